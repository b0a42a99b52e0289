# Customer-managed keys: one encrypts the SNS topics (notifications and alarms), one is the HMAC key that
# list_streams derives its page-key signing secret from (the key material never leaves KMS).
#
# Key policies name the key itself as Resource "*" (the only value a key policy takes). The account
# statement lists its actions instead of "kms:*": administration, plus the uses that IAM policies in the
# account may then grant (notify_stream's role, list_streams' role).

locals {
  kms_admin_actions = [
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:CreateGrant",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RetireGrant",
    "kms:RevokeGrant",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
  ]
  account_root_arn = "arn:${local.partition}:iam::${local.account_id}:root"
}

# --- Topic key -----------------------------------------------------------------------------------------

data "aws_iam_policy_document" "topic_key" {
  #checkov:skip=CKV_AWS_109:a key policy's Resource "*" is the key itself; the account statement is the standard delegation to IAM
  #checkov:skip=CKV_AWS_111:same: key policies can only name the key as "*"
  #checkov:skip=CKV_AWS_356:same: key policies can only name the key as "*"
  statement {
    sid       = "AccountAdministersKeyAndDelegatesUseToIam"
    actions   = concat(local.kms_admin_actions, ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"])
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.account_root_arn]
    }
  }

  # SNS decrypts what publishers sent when it delivers to subscribers (the example queue), and
  # CloudWatch alarms publish to the encrypted alarm topic.
  statement {
    sid       = "AwsServicesOfThisAccountUseKeyForTopics"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com", "cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_kms_key" "topics" {
  description             = "${local.name}: encrypts the notification and alarm topics"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.topic_key.json
}

resource "aws_kms_alias" "topics" {
  name          = "alias/${local.name}-topics"
  target_key_id = aws_kms_key.topics.key_id
}

# --- Page-key HMAC key ---------------------------------------------------------------------------------

data "aws_iam_policy_document" "page_key" {
  #checkov:skip=CKV_AWS_109:a key policy's Resource "*" is the key itself; the account statement is the standard delegation to IAM
  #checkov:skip=CKV_AWS_111:same: key policies can only name the key as "*"
  #checkov:skip=CKV_AWS_356:same: key policies can only name the key as "*"
  statement {
    sid       = "AccountAdministersKeyAndDelegatesUseToIam"
    actions   = concat(local.kms_admin_actions, ["kms:GenerateMac", "kms:VerifyMac"])
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.account_root_arn]
    }
  }
}

resource "aws_kms_key" "page_key" {
  #checkov:skip=CKV_AWS_7:KMS rotates only symmetric encryption keys; HMAC keys cannot have automatic rotation
  description              = "${local.name}: HMAC key list_streams signs page keys with"
  customer_master_key_spec = "HMAC_256"
  key_usage                = "GENERATE_VERIFY_MAC"
  enable_key_rotation      = false
  deletion_window_in_days  = var.kms_deletion_window_days
  policy                   = data.aws_iam_policy_document.page_key.json
}

resource "aws_kms_alias" "page_key" {
  name          = "alias/${local.name}-page-key"
  target_key_id = aws_kms_key.page_key.key_id
}
