# Customer-managed keys beyond kms.tf's: the table's (brought with table_kms_key_arn, or created here
# with a key policy naming exactly the roles that use the table), and optional keys for the log
# groups, the queues and the functions' environment. Every role gets the uses of a key it needs, and no
# role gets more: the table key only through DynamoDB (kms:ViaService).

variable "create_table_kms_key" {
  type        = bool
  description = "Create a customer-managed key for the table whose key policy lets exactly the functions that use the table (and AWS Backup) use it. Exclusive with table_kms_key_arn."
  default     = false

  validation {
    condition     = !var.create_table_kms_key || var.table_kms_key_arn == null
    error_message = "Set create_table_kms_key or table_kms_key_arn, not both."
  }
}

variable "logs_kms_key_arn" {
  type        = string
  description = "A KMS key for the functions' and the API's log groups (its key policy must allow logs.<region>.amazonaws.com). null: CloudWatch Logs' own encryption."
  default     = null
}

variable "queues_kms_key_arn" {
  type        = string
  description = "A KMS key for the on-failure and example subscriber queues (its key policy must allow sns.amazonaws.com to deliver to the subscriber queue). null: SQS-managed encryption."
  default     = null
}

variable "lambda_environment_kms_key_arn" {
  type        = string
  description = "A KMS key for the functions' environment variables (each function's role gets kms:Decrypt on it). null: Lambda's AWS-managed key."
  default     = null
}

locals {
  table_kms_key_arn = var.create_table_kms_key ? aws_kms_key.table[0].arn : var.table_kms_key_arn
  # Functions that read or write the tables (the events table, its stream, the data-subject keys table;
  # both tables use the table key). A literal list: the key policy cannot depend on local.functions,
  # which depends on the table, which depends on the key. The check below keeps it true.
  table_users = [
    "append_event", "checkpoints", "create_stream", "delete_stream", "describe_data_subject",
    "erase_data_subject", "list_streams", "notify_stream", "read_events", "read_feed", "remove_expired",
    "snapshots", "stream_metadata",
  ]
  # Role ARNs by name (the same names functions.tf and backup.tf give them): a key policy may name
  # roles in a condition before they exist.
  table_user_role_arns = concat(
    [for name in local.table_users : "arn:${local.partition}:iam::${local.account_id}:role/${local.name}-${replace(name, "_", "-")}"],
    local.backup_selections == 1 ? ["arn:${local.partition}:iam::${local.account_id}:role/${local.name}-backup"] : [],
  )
  # Each function's statements on the tables (functions.tf's, lifecycle.tf's, removal.tf's and erasure.tf's;
  # payloads.tf's reach S3 only).
  table_statements = {
    for name, function in local.functions : name => [
      for statement in concat(function.statements, lookup(local.erasure_statements, name, [])) : statement
      if anytrue([for resource in statement.resources : startswith(resource, local.table_arn) || startswith(resource, local.keys_table_arn)])
    ]
  }
  # DynamoDB uses a customer managed table key on the caller's behalf (kms:ViaService), so the caller's
  # role needs the key's uses: AWS KMS Developer Guide, "How Amazon DynamoDB uses AWS KMS"
  # (https://docs.aws.amazon.com/kms/latest/developerguide/services-dynamodb.html). A caller that writes
  # items needs kms:Encrypt and kms:GenerateDataKey besides a reader's kms:Decrypt and kms:DescribeKey (the
  # split aws-cdk's Table.grantReadData/grantWriteData make). Derived from the statements, not listed: only
  # the key policy needs a literal (table_users), and a function given a write action is a writer at once.
  table_write_actions = ["dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
  writers = [
    for name, statements in local.table_statements : name
    if anytrue([for statement in statements : length(setintersection(statement.actions, local.table_write_actions)) > 0])
  ]
  via_dynamodb = {
    test     = "StringEquals"
    variable = "kms:ViaService"
    values   = ["dynamodb.${local.region}.amazonaws.com"]
  }

  # Per function: extra statements for the keys in use (functions.tf adds them to the role's policy).
  function_key_statements = {
    for name, function in local.functions : name => concat(
      local.table_kms_key_arn != null && contains(local.table_users, name) ? [{
        sid       = "UseTableKeyThroughDynamoDB"
        actions   = contains(local.writers, name) ? ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"] : ["kms:Decrypt", "kms:DescribeKey"]
        resources = [local.table_kms_key_arn]
        condition = [local.via_dynamodb]
      }] : [],
      var.lambda_environment_kms_key_arn != null ? [{
        sid       = "DecryptOwnEnvironment"
        actions   = ["kms:Decrypt"]
        resources = [var.lambda_environment_kms_key_arn]
        condition = []
      }] : [],
      var.queues_kms_key_arn != null && name == "notify_stream" ? [{
        sid       = "EncryptForOnFailureQueue"
        actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
        resources = [var.queues_kms_key_arn]
        condition = []
      }] : [],
    )
  }
}

data "aws_iam_policy_document" "table_key" {
  count = var.create_table_kms_key ? 1 : 0
  #checkov:skip=CKV_AWS_109:a key policy's Resource "*" is the key itself; the account may only administer it
  #checkov:skip=CKV_AWS_111:same: key policies can only name the key as "*"
  #checkov:skip=CKV_AWS_356:same: key policies can only name the key as "*"

  # The account administers the key but cannot use it: no IAM policy can widen who reads the table.
  statement {
    sid       = "AccountAdministersKeyOnly"
    actions   = local.kms_admin_actions
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.account_root_arn]
    }
  }

  statement {
    sid       = "TableUsersThroughDynamoDB"
    actions   = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey", "kms:CreateGrant"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [local.account_root_arn]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:PrincipalArn"
      values   = local.table_user_role_arns
    }
    condition {
      test     = local.via_dynamodb.test
      variable = local.via_dynamodb.variable
      values   = local.via_dynamodb.values
    }
  }

  # DynamoDB itself describes the key and manages its grants for the table.
  statement {
    sid       = "DynamoDBManagesTheTablesGrants"
    actions   = ["kms:DescribeKey", "kms:CreateGrant", "kms:RetireGrant", "kms:ListGrants"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["dynamodb.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_kms_key" "table" {
  count                   = var.create_table_kms_key ? 1 : 0
  description             = "${local.name}: encrypts the events table (usable only by its functions through DynamoDB)"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.table_key[0].json
}

resource "aws_kms_alias" "table" {
  count         = var.create_table_kms_key ? 1 : 0
  name          = "alias/${local.name}-table"
  target_key_id = aws_kms_key.table[0].key_id
}

# table_users must name every function whose role reaches the table or its stream: a created key's policy
# names only them, and with a brought key only they get its uses (function_key_statements).
resource "terraform_data" "table_users_complete" {
  count = var.create_table_kms_key || var.table_kms_key_arn != null ? 1 : 0

  lifecycle {
    precondition {
      condition = alltrue([
        for name, statements in local.table_statements : contains(local.table_users, name) || length(statements) == 0
      ])
      error_message = "A function uses the table but is missing from local.table_users in keys.tf: add it, or the table key refuses it."
    }
  }
}
