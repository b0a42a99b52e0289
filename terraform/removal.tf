# Physical removal (docs/design.md, "Physical removal and archive"): remove_expired runs on an EventBridge
# schedule, finds due streams through the sparse dueForRemoval index and the listing index, archives spans
# when archive_enabled, and deletes whole commits in BatchWriteItems. An archive failure leaves the events
# and counts ArchiveFailures, which pages (alarm below; runbook in docs/operations.md).

locals {
  removal_environment = merge(
    local.table_environment,
    { EVENTSTORE_RETENTION_DEFAULTS = jsonencode(local.retention_defaults) },
    var.archive_enabled ? { EVENTSTORE_ARCHIVE_BUCKET = local.archive_bucket } : {},
    local.payload_environment,
  )
  # EVENTSTORE_RETENTION_DEFAULTS' shape: only the bounds that are set.
  retention_defaults = {
    for type, bounds in var.stream_type_retention : type => {
      for name, value in { maxCount = bounds.max_count, maxAgeSeconds = bounds.max_age_seconds } : name => value if value != null
    }
  }

  removal_functions = {
    remove_expired = {
      description = "Scheduled: archive (optional) and delete events no reader can see any more"
      timeout     = var.removal_timeout_seconds
      environment = local.removal_environment
      # One run at a time: a run longer than the schedule's interval never overlaps the next one, so a
      # stream's manifest (read, then rewritten) has one writer.
      reserved_concurrency = 1
      statements = concat(
        [
          { sid = "FindDueStreams", actions = ["dynamodb:Query"], resources = ["${local.table_arn}/index/${local.removal_index}", "${local.table_arn}/index/${local.listing_index}"] },
          # Reads a stream's reserved items and commits, deletes commits and snapshots, clears sweepShard.
          { sid = "SweepStreams", actions = ["dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:UpdateItem"], resources = [local.table_arn] },
          # How far the sweep of a type with a default max count has read the listing index: only those items.
          {
            sid        = "ReadAndWriteRemovalCheckpointsOnly"
            actions    = ["dynamodb:GetItem", "dynamodb:PutItem"]
            resources  = [local.table_arn]
            conditions = [{ test = "ForAllValues:StringLike", variable = "dynamodb:LeadingKeys", values = ["$removal:*"] }]
          },
        ],
        var.archive_enabled ? [
          { sid = "WriteAndVerifyArchive", actions = ["s3:GetObject", "s3:PutObject"], resources = ["${local.archive_bucket_arn}/streams/*"] },
          # A manifest not there yet answers 404 (not 403) only with ListBucket.
          { sid = "TellMissingManifests", actions = ["s3:ListBucket"], resources = [local.archive_bucket_arn] },
          { sid = "EncryptArchive", actions = ["kms:Decrypt", "kms:GenerateDataKey"], resources = [local.archive_key_arn] },
        ] : [],
        [
          # A deleted stream's payload objects (payloads.tf) go with it: listed by its <streamId>/ prefix. The
          # orphan sweep lists the whole bucket and deletes objects no commit references (Query: SweepStreams;
          # its position: the $removal:* checkpoint items).
          { sid = "ListPayloadObjects", actions = ["s3:ListBucket"], resources = [aws_s3_bucket.payloads.arn] },
          { sid = "DeletePayloadObjects", actions = ["s3:DeleteObject"], resources = [local.payload_objects_arn] },
        ],
        # The archive holds offloaded payloads inline (an archive never points into the payload bucket).
        var.archive_enabled ? concat(
          [{ sid = "ReadPayloadObjectsToArchive", actions = ["s3:GetObject"], resources = [local.payload_objects_arn] }],
          var.payload_bucket_kms_key_arn == null ? [] : [{
            sid        = "DecryptPayloadsThroughS3"
            actions    = ["kms:Decrypt"]
            resources  = [var.payload_bucket_kms_key_arn]
            conditions = [local.via_s3]
          }],
        ) : [],
      )
    }
  }
}

resource "aws_cloudwatch_event_rule" "removal" {
  name                = "${local.name}-removal"
  description         = "Runs remove_expired: removal within 24 h needs a schedule of at most a day"
  schedule_expression = var.removal_schedule
}

resource "aws_cloudwatch_event_target" "removal" {
  rule = aws_cloudwatch_event_rule.removal.name
  arn  = local.live_arns["remove_expired"]
  # A run that fails is not retried by EventBridge: the next scheduled run does the same work.
  retry_policy {
    maximum_retry_attempts       = 0
    maximum_event_age_in_seconds = 3600
  }
}

resource "aws_lambda_permission" "removal_schedule" {
  statement_id  = "RunOnSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this["remove_expired"].function_name
  qualifier     = local.live_alias_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.removal.arn
  depends_on    = [aws_lambda_alias.live, aws_lambda_alias.live_shifted]
}

resource "aws_cloudwatch_metric_alarm" "archive_failures" {
  alarm_name         = "${local.name}-archive-failures"
  alarm_description  = "remove_expired could not archive a span (S3 or KMS failed, or the object read back differently): those events stay in the table until it can. Runbook: docs/operations.md, archive-failures."
  namespace          = local.metrics_namespace
  metric_name        = "ArchiveFailures"
  dimensions         = { service = local.service_name }
  statistic          = "Sum"
  period             = 60
  evaluation_periods = var.alarm_evaluation_periods
  # One minute is enough here, unlike the other alarms' M of N: a run is once per removal_schedule, so a
  # failure shows in one minute only and M of N would never fire.
  datapoints_to_alarm = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
