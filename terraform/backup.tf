# AWS Backup for the events table (kept for ever; PITR alone covers 35 days): a vault (optionally
# locked), a daily plan, a copy to another region's or account's vault, and the selection of the table.
# docs/operations.md ("Restoring the table") says what a restore means for notifications, feeds and keys.
#
# Copies, cold storage and vault lock for DynamoDB need AWS Backup's "advanced features for DynamoDB"
# (an account-wide setting, like API Gateway's CloudWatch role): turn it on once per account and region.

variable "backup_enabled" {
  type        = bool
  description = "Back the table up with AWS Backup (vault, plan, selection)."
  default     = true
}

variable "backup_schedule" {
  type        = string
  description = "When the daily backup runs (AWS Backup cron expression, UTC)."
  default     = "cron(0 3 * * ? *)"
}

variable "backup_retention_days" {
  type        = number
  description = "How long each backup (and its copy) is kept."
  default     = 365

  validation {
    condition     = var.backup_retention_days >= 1
    error_message = "backup_retention_days must be at least 1."
  }
}

variable "backup_vault_kms_key_arn" {
  type        = string
  description = "A customer-managed KMS key for the vault. null uses AWS Backup's managed key (copies across accounts need a CMK)."
  default     = null
}

variable "backup_copy_vault_arn" {
  type        = string
  description = "A vault in another region or account every backup is copied to (its access policy must allow this account's copies). null: no copy."
  default     = null

  validation {
    condition     = var.backup_copy_vault_arn == null || can(regex("^arn:aws[a-z-]*:backup:[a-z0-9-]+:[0-9]{12}:backup-vault:.+$", var.backup_copy_vault_arn))
    error_message = "backup_copy_vault_arn must be a backup vault ARN."
  }
}

variable "backup_vault_lock" {
  type = object({
    min_retention_days  = number
    max_retention_days  = number
    changeable_for_days = optional(number)
  })
  description = "Vault lock: recovery points cannot be deleted before min_retention_days. With changeable_for_days (>= 3) it becomes compliance mode, which nobody (not even root) can undo after that many days."
  default     = null

  validation {
    condition     = coalesce(try(var.backup_vault_lock.changeable_for_days, null), 3) >= 3
    error_message = "backup_vault_lock.changeable_for_days must be at least 3 (or left out for governance mode)."
  }
}

locals {
  # Not on emulators: moto has no backup selections, and its vaults and plans lose their tags (every
  # re-plan would add them again). The production example's plan shows all of it.
  backups           = var.backup_enabled && !local.emulated ? 1 : 0
  backup_selections = local.backups
}

resource "aws_backup_vault" "this" {
  count       = local.backups
  name        = "${local.name}-backups"
  kms_key_arn = var.backup_vault_kms_key_arn
}

resource "aws_backup_vault_lock_configuration" "this" {
  count               = var.backup_enabled && var.backup_vault_lock != null ? 1 : 0
  backup_vault_name   = aws_backup_vault.this[0].name
  min_retention_days  = var.backup_vault_lock.min_retention_days
  max_retention_days  = var.backup_vault_lock.max_retention_days
  changeable_for_days = var.backup_vault_lock.changeable_for_days
}

resource "aws_backup_plan" "this" {
  count = local.backups
  name  = "${local.name}-table"

  rule {
    rule_name         = "daily"
    target_vault_name = aws_backup_vault.this[0].name
    schedule          = var.backup_schedule
    start_window      = 60
    completion_window = 360

    lifecycle {
      delete_after = var.backup_retention_days
    }

    dynamic "copy_action" {
      for_each = var.backup_copy_vault_arn == null ? [] : [var.backup_copy_vault_arn]
      content {
        destination_vault_arn = copy_action.value
        lifecycle {
          delete_after = var.backup_retention_days
        }
      }
    }
  }
}

data "aws_iam_policy_document" "backup_assume_role" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["backup.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "backup" {
  count              = local.backup_selections
  name               = "${local.name}-backup"
  description        = "AWS Backup backs up and restores ${local.name}'s table"
  assume_role_policy = data.aws_iam_policy_document.backup_assume_role.json
}

# AWS's own policies for the backup service role: they follow the service's needs (DynamoDB advanced
# backups, copies, restores) as it changes, which a hand-written copy would not.
resource "aws_iam_role_policy_attachment" "backup" {
  for_each   = local.backup_selections == 1 ? toset(["AWSBackupServiceRolePolicyForBackup", "AWSBackupServiceRolePolicyForRestores"]) : toset([])
  role       = aws_iam_role.backup[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/${each.key}"
}

resource "aws_backup_selection" "table" {
  count        = local.backup_selections
  name         = "${local.name}-table"
  plan_id      = aws_backup_plan.this[0].id
  iam_role_arn = aws_iam_role.backup[0].arn
  resources    = [aws_dynamodb_table.events.arn]
}
