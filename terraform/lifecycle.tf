# Stream lifecycle (docs/design.md, "Lifecycle"): the functions behind DELETE /streams/{streamType}/{streamId}
# and .../metadata (merged into functions.tf's map), and the per stream type retention defaults given to
# the functions that decide what a read shows.

locals {
  # EVENTSTORE_RETENTION_DEFAULTS (eventstore.config.RetentionSettings): {"<type>": {"maxCount": N, "maxAgeSeconds": S}}.
  retention_environment = length(var.stream_type_retention) == 0 ? {} : {
    EVENTSTORE_RETENTION_DEFAULTS = jsonencode({
      for stream_type, bounds in var.stream_type_retention : stream_type => merge(
        bounds.max_count == null ? {} : { maxCount = bounds.max_count },
        bounds.max_age_seconds == null ? {} : { maxAgeSeconds = bounds.max_age_seconds },
      )
    })
  }

  lifecycle_functions = {
    # The head (Query), the marker in the head slot (conditional PutItem; GetItem: emulators that do not
    # return the item a failed condition found) and the control item (UpdateItem).
    delete_stream = {
      description = "DELETE /streams/{streamType}/{streamId}: soft delete or tombstone a stream"
      timeout     = var.lambda_timeout_seconds
      environment = local.table_environment
      statements = [
        { sid = "MarkHeadRecordDeletionDropSnapshot", actions = ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"], resources = [local.table_arn] },
      ]
    }
    stream_metadata = {
      description = "GET/PUT /streams/{streamType}/{streamId}/metadata: a stream's lifecycle settings"
      timeout     = var.lambda_timeout_seconds
      environment = local.table_environment
      statements = [
        { sid = "ReadHeadAndControlItem", actions = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"], resources = [local.table_arn] },
      ]
    }
  }

  # What a read shows depends on the type's defaults: stream reads and feeds.
  lifecycle_environment = {
    read_events = local.retention_environment
    read_feed   = local.retention_environment
  }
}
