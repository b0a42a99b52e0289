# Large payloads (docs/design.md, "Large payloads"): the bucket that holds payloads too large for a commit
# item, as `<streamId>/<sha256 of the stored bytes>`, and what the four event functions add to their roles
# and environment (merged into functions.tf's definitions, as erasure.tf's are).

variable "payload_bucket_kms_key_arn" {
  type        = string
  description = "A customer-managed KMS key for the payload bucket's SSE-KMS (the writers get kms:GenerateDataKey and kms:Decrypt on it, the readers kms:Decrypt, only through S3). null: the AWS-managed key aws/s3."
  default     = null
}

variable "payload_bucket_force_destroy" {
  type        = bool
  description = "Let `terraform destroy` delete the payload bucket with its objects. Commits point to those objects: only for throwaway workspaces."
  default     = false
}

locals {
  payload_objects_arn = "${aws_s3_bucket.payloads.arn}/*"
  payload_environment = { EVENTSTORE_PAYLOAD_BUCKET = aws_s3_bucket.payloads.bucket }
  via_s3 = {
    test     = "StringEquals"
    variable = "kms:ViaService"
    values   = ["s3.${local.region}.amazonaws.com"]
  }
  # Writers upload (before the commit that points to the object), readers download; nobody lists or
  # deletes here (stream deletion and the orphan sweep are separate, docs/design.md).
  payload_writers = ["create_stream", "append_event"]
  payload_readers = ["read_events", "read_feed"]
  payload_statements = merge(
    { for name in local.payload_writers : name => concat(
      [{ sid = "UploadPayloads", actions = ["s3:PutObject"], resources = [local.payload_objects_arn] }],
      var.payload_bucket_kms_key_arn == null ? [] : [{
        sid        = "EncryptPayloadsThroughS3"
        actions    = ["kms:Decrypt", "kms:GenerateDataKey"]
        resources  = [var.payload_bucket_kms_key_arn]
        conditions = [local.via_s3]
      }],
    ) },
    { for name in local.payload_readers : name => concat(
      [{ sid = "DownloadPayloads", actions = ["s3:GetObject"], resources = [local.payload_objects_arn] }],
      var.payload_bucket_kms_key_arn == null ? [] : [{
        sid        = "DecryptPayloadsThroughS3"
        actions    = ["kms:Decrypt"]
        resources  = [var.payload_bucket_kms_key_arn]
        conditions = [local.via_s3]
      }],
    ) },
  )
}

resource "aws_s3_bucket" "payloads" {
  #checkov:skip=CKV_AWS_144:cross-region replication is a deployment's choice; the table it belongs with is not replicated either
  #checkov:skip=CKV_AWS_18:access logging needs a log bucket this module does not manage; every function's use is in CloudTrail data events if enabled
  #checkov:skip=CKV_AWS_21:versioning is off on purpose: objects are immutable (named by their hash) and a deleted stream must leave no old versions behind
  #checkov:skip=CKV2_AWS_62:no event notifications: nothing reacts to uploads
  bucket        = "${local.name}-payloads-${local.account_id}"
  force_destroy = var.payload_bucket_force_destroy
}

resource "aws_s3_bucket_public_access_block" "payloads" {
  bucket                  = aws_s3_bucket.payloads.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "payloads" {
  bucket = aws_s3_bucket.payloads.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "payloads" {
  bucket = aws_s3_bucket.payloads.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.payload_bucket_kms_key_arn
    }
    # One data key per bucket and a while instead of a KMS request per object.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "payloads" {
  bucket = aws_s3_bucket.payloads.id
  # Functions use single PutObjects; a multipart upload left by anything else must not linger.
  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "payload_bucket" {
  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.payloads.arn, local.payload_objects_arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "payloads" {
  bucket = aws_s3_bucket.payloads.id
  policy = data.aws_iam_policy_document.payload_bucket.json
  # A policy put before the public access block may be refused as public on AWS.
  depends_on = [aws_s3_bucket_public_access_block.payloads]
}
