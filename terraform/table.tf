# The event store's one table. Keys, attributes, the listing index and the stream view type come from
# shared/eventstore/table.json, the definition the Python code and the local runtime read too.
#
# No TTL: commits are immutable and kept for ever; a stream's summary (notify_stream's cursor) and its
# listing marker (for a commit that landed late) live as long as the stream. Nothing expires.

locals {
  gsi = { for index in local.table.global_secondary_indexes : index.name => index }
}

resource "aws_dynamodb_table" "events" {
  #checkov:skip=CKV_AWS_119:AWS-managed KMS key by default; create_table_kms_key or table_kms_key_arn select a customer-managed key (keys.tf)
  name                        = "${local.name}-events"
  billing_mode                = var.table_billing_mode
  read_capacity               = var.table_billing_mode == "PROVISIONED" ? var.table_read_capacity : null
  write_capacity              = var.table_billing_mode == "PROVISIONED" ? var.table_write_capacity : null
  hash_key                    = local.table.hash_key
  range_key                   = local.table.range_key
  deletion_protection_enabled = var.deletion_protection
  stream_enabled              = true
  stream_view_type            = local.table.stream_view_type

  dynamic "attribute" {
    for_each = { for attribute in local.table.attributes : attribute.name => attribute.type }
    content {
      name = attribute.key
      type = attribute.value
    }
  }

  dynamic "global_secondary_index" {
    for_each = local.gsi
    content {
      name               = global_secondary_index.key
      hash_key           = global_secondary_index.value.hash_key
      range_key          = global_secondary_index.value.range_key
      projection_type    = global_secondary_index.value.projection_type
      non_key_attributes = global_secondary_index.value.projection_type == "INCLUDE" ? global_secondary_index.value.non_key_attributes : null
      read_capacity      = var.table_billing_mode == "PROVISIONED" ? var.table_read_capacity : null
      write_capacity     = var.table_billing_mode == "PROVISIONED" ? var.table_write_capacity : null
    }
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = local.table_kms_key_arn
  }
}
