# Erasure by crypto-shredding (docs/design.md, "Erasure"): the data-subject keys table, the customer managed
# key that wraps each subject's data key, the two functions behind /data-subjects/{dataSubject} (merged
# into functions.tf's map) and what the event functions add to their roles and environment.

locals {
  keys_table     = local.table.data_subject_keys
  keys_table_arn = aws_dynamodb_table.data_subject_keys.arn
  context_key    = "eventstore:dataSubject" # eventstore.erasure.CONTEXT_KEY

  keys_environment = {
    EVENTSTORE_KEYS_TABLE_NAME     = aws_dynamodb_table.data_subject_keys.name
    EVENTSTORE_DATA_KEY_KMS_KEY_ID = aws_kms_key.data_keys.arn
  }

  # Erasing and describing touch the keys table only: no key use, no events. (EVENTSTORE_TABLE_NAME is
  # read by every store's configuration; these roles have no permission on that table.)
  erasure_functions = {
    erase_data_subject = {
      description = "DELETE /data-subjects/{dataSubject}: erase a data subject (destroy its data key)"
      timeout     = var.lambda_timeout_seconds
      environment = merge(local.table_environment, { EVENTSTORE_KEYS_TABLE_NAME = aws_dynamodb_table.data_subject_keys.name })
      statements = [
        { sid = "DestroyKeyAndRecordErasure", actions = ["dynamodb:UpdateItem"], resources = [local.keys_table_arn] },
      ]
    }
    describe_data_subject = {
      description = "GET /data-subjects/{dataSubject}: a data subject's state, for audit"
      timeout     = var.lambda_timeout_seconds
      environment = merge(local.table_environment, { EVENTSTORE_KEYS_TABLE_NAME = aws_dynamodb_table.data_subject_keys.name })
      statements = [
        { sid = "ReadKeyState", actions = ["dynamodb:GetItem"], resources = [local.keys_table_arn] },
      ]
    }
  }

  # Added to functions.tf's definitions: writers make and unwrap keys, readers only unwrap.
  erasure_statements = {
    create_stream = [
      { sid = "ReadAndAddSubjectKeys", actions = ["dynamodb:GetItem", "dynamodb:PutItem"], resources = [local.keys_table_arn] },
      { sid = "MakeAndUnwrapDataKeys", actions = ["kms:Decrypt", "kms:GenerateDataKey"], resources = [aws_kms_key.data_keys.arn] },
    ]
    append_event = [
      { sid = "ReadAndAddSubjectKeys", actions = ["dynamodb:GetItem", "dynamodb:PutItem"], resources = [local.keys_table_arn] },
      { sid = "MakeAndUnwrapDataKeys", actions = ["kms:Decrypt", "kms:GenerateDataKey"], resources = [aws_kms_key.data_keys.arn] },
    ]
    read_events = [
      { sid = "ReadSubjectKeys", actions = ["dynamodb:GetItem"], resources = [local.keys_table_arn] },
      { sid = "UnwrapDataKeys", actions = ["kms:Decrypt"], resources = [aws_kms_key.data_keys.arn] },
    ]
    # A snapshot's state is sealed and opened like a payload (a new subject gets its key here too).
    snapshots = [
      { sid = "ReadAndAddSubjectKeys", actions = ["dynamodb:GetItem", "dynamodb:PutItem"], resources = [local.keys_table_arn] },
      { sid = "MakeAndUnwrapDataKeys", actions = ["kms:Decrypt", "kms:GenerateDataKey"], resources = [aws_kms_key.data_keys.arn] },
    ]
    # Feeds return the same events as reads: sealed payloads opened, or marked erased.
    read_feed = [
      { sid = "ReadSubjectKeys", actions = ["dynamodb:GetItem"], resources = [local.keys_table_arn] },
      { sid = "UnwrapDataKeys", actions = ["kms:Decrypt"], resources = [aws_kms_key.data_keys.arn] },
    ]
  }
  erasure_environment = {
    create_stream = local.keys_environment
    append_event  = local.keys_environment
    read_events   = local.keys_environment
    read_feed     = local.keys_environment
    snapshots     = local.keys_environment
  }
}

# --- The keys table -------------------------------------------------------------------------------------

resource "aws_dynamodb_table" "data_subject_keys" {
  #checkov:skip=CKV_AWS_119:AWS-managed KMS key by default; var.table_kms_key_arn selects a customer-managed key (the data keys in it are wrapped by the data-key CMK anyway)
  #checkov:skip=CKV_AWS_28:point-in-time recovery is var.keys_table_point_in_time_recovery, off by default: a restore would bring erased keys back (docs/design.md, Erasure)
  name                        = "${local.name}-data-subject-keys"
  billing_mode                = var.table_billing_mode
  read_capacity               = var.table_billing_mode == "PROVISIONED" ? var.table_read_capacity : null
  write_capacity              = var.table_billing_mode == "PROVISIONED" ? var.table_write_capacity : null
  hash_key                    = local.keys_table.hash_key
  deletion_protection_enabled = var.deletion_protection

  dynamic "attribute" {
    for_each = { for attribute in local.keys_table.attributes : attribute.name => attribute.type }
    content {
      name = attribute.key
      type = attribute.value
    }
  }

  point_in_time_recovery {
    enabled = var.keys_table_point_in_time_recovery
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = local.table_kms_key_arn
  }
}

# --- The data-key CMK -----------------------------------------------------------------------------------

data "aws_iam_policy_document" "data_keys" {
  #checkov:skip=CKV_AWS_109:a key policy's Resource "*" is the key itself; the account statement administers the key and grants no use
  #checkov:skip=CKV_AWS_111:same: key policies can only name the key as "*"
  #checkov:skip=CKV_AWS_356:same: key policies can only name the key as "*"

  # Administration only: unlike the other keys, the account does not delegate use to IAM, so no policy
  # in the account can unwrap a subject's key besides the two statements below.
  statement {
    sid       = "AccountAdministersKey"
    actions   = local.kms_admin_actions
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.account_root_arn]
    }
  }

  statement {
    sid       = "WritersMakeAndUnwrapSubjectKeys"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [for name in ["create_stream", "append_event", "snapshots"] : aws_iam_role.function[name].arn]
    }

    # Only data keys bound to a subject: the context names one, and nothing else.
    condition {
      test     = "ForAllValues:StringEquals"
      variable = "kms:EncryptionContextKeys"
      values   = [local.context_key]
    }
    condition {
      test     = "Null"
      variable = "kms:EncryptionContext:${local.context_key}"
      values   = ["false"]
    }
  }

  statement {
    sid       = "ReadersUnwrapSubjectKeys"
    actions   = ["kms:Decrypt"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.function["read_events"].arn, aws_iam_role.function["read_feed"].arn]
    }

    condition {
      test     = "ForAllValues:StringEquals"
      variable = "kms:EncryptionContextKeys"
      values   = [local.context_key]
    }
    condition {
      test     = "Null"
      variable = "kms:EncryptionContext:${local.context_key}"
      values   = ["false"]
    }
  }
}

resource "aws_kms_key" "data_keys" {
  description             = "${local.name}: wraps each data subject's data key (crypto-shredding)"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.data_keys.json
}

resource "aws_kms_alias" "data_keys" {
  name          = "alias/${local.name}-data-keys"
  target_key_id = aws_kms_key.data_keys.key_id
}
