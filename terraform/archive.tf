# The archive of removed events (archive_enabled): one gzip JSON Lines object per stream span and a
# manifest per stream with each object's SHA-256, written and read back by remove_expired before it deletes
# the span (docs/design.md, "Physical removal and archive"). SSE-KMS under a key of its own, versioning,
# no public access, TLS only, and a lifecycle rule to a cheaper class.

locals {
  archive_count      = var.archive_enabled ? 1 : 0
  archive_bucket     = var.archive_enabled ? aws_s3_bucket.archive[0].bucket : null
  archive_bucket_arn = var.archive_enabled ? aws_s3_bucket.archive[0].arn : null
  archive_key_arn    = var.archive_enabled ? aws_kms_key.archive[0].arn : null
}

data "aws_iam_policy_document" "archive_key" {
  count = local.archive_count
  #checkov:skip=CKV_AWS_109:a key policy's Resource "*" is the key itself; the account statement is the standard delegation to IAM
  #checkov:skip=CKV_AWS_111:same: key policies can only name the key as "*"
  #checkov:skip=CKV_AWS_356:same: key policies can only name the key as "*"
  statement {
    sid       = "AccountAdministersKeyAndDelegatesUseToIam"
    actions   = concat(local.kms_admin_actions, ["kms:Decrypt", "kms:GenerateDataKey"])
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.account_root_arn]
    }
  }
}

resource "aws_kms_key" "archive" {
  count                   = local.archive_count
  description             = "${local.name}: the archive bucket's objects (SSE-KMS)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.archive_key[0].json
}

resource "aws_s3_bucket" "archive" {
  #checkov:skip=CKV_AWS_18:access logging needs a log bucket this module does not own; CloudTrail data events cover object access
  #checkov:skip=CKV_AWS_144:cross-region replication is an account-level choice (a second region's bucket and role)
  #checkov:skip=CKV2_AWS_62:no consumer of bucket events: the manifest is the index
  count         = local.archive_count
  bucket        = "${local.name}-archive-${local.account_id}"
  force_destroy = !var.deletion_protection
}

resource "aws_s3_bucket_versioning" "archive" {
  count  = local.archive_count
  bucket = aws_s3_bucket.archive[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "archive" {
  count  = local.archive_count
  bucket = aws_s3_bucket.archive[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.archive[0].arn
    }
    # One KMS request per bucket and day instead of one per object written or read.
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "archive" {
  count                   = local.archive_count
  bucket                  = aws_s3_bucket.archive[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "archive" {
  count  = local.archive_count
  bucket = aws_s3_bucket.archive[0].id

  rule {
    id     = "cheaper-class"
    status = "Enabled"
    filter {}
    transition {
      days          = var.archive_transition_days
      storage_class = var.archive_storage_class
    }
    # A manifest rewritten per span leaves old versions: keep them a while, not for ever.
    noncurrent_version_expiration {
      noncurrent_days = var.archive_noncurrent_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

data "aws_iam_policy_document" "archive_bucket" {
  count = local.archive_count

  statement {
    sid       = "DenyWithoutTls"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.archive[0].arn, "${aws_s3_bucket.archive[0].arn}/*"]

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

resource "aws_s3_bucket_policy" "archive" {
  count  = local.archive_count
  bucket = aws_s3_bucket.archive[0].id
  policy = data.aws_iam_policy_document.archive_bucket[0].json
  # A public-access change and a policy change at once conflict (S3 answers 409).
  depends_on = [aws_s3_bucket_public_access_block.archive]
}
