# Notifications: the table's stream feeds notify_stream, which publishes each new commit to the SNS
# topic. Batches that keep failing land in the on-failure queue. An example subscriber queue shows how a
# consumer subscribes (optionally to some stream types only).

locals {
  topic_suffix = var.topic_fifo ? ".fifo" : ""
  # The mapping's filters (any one passes a record): new commits, restarts, lifecycle markers
  # (local_runtime/pump.py's matches_filter is the same).
  notified_writes = [
    { events = ["INSERT"], attribute = "digest" },
    { events = ["MODIFY"], attribute = "replaces" },
    { events = ["INSERT", "MODIFY"], attribute = "kind" },
  ]
}

resource "aws_sns_topic" "notifications" {
  name              = "${local.name}-notifications${local.topic_suffix}"
  fifo_topic        = var.topic_fifo
  kms_master_key_id = aws_kms_key.topics.arn
  # notify_stream sets MessageDeduplicationId itself (the commit's key), so content-based dedup stays off.
  content_based_deduplication = var.topic_fifo ? false : null
}

# Records the mapping gave up on (retries or record age exhausted): their shard and sequence numbers,
# to replay from the table.
resource "aws_sqs_queue" "notify_failures" {
  name                      = "${local.name}-notify-failures"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = var.queues_kms_key_arn == null ? true : null
  kms_master_key_id         = var.queues_kms_key_arn
}

resource "aws_lambda_event_source_mapping" "notify" {
  count            = var.create_event_source_mapping ? 1 : 0
  event_source_arn = aws_dynamodb_table.events.stream_arn
  function_name    = local.live_arns["notify_stream"]
  # From the oldest record the stream holds: nothing committed before the mapping existed is skipped.
  starting_position                  = "TRIM_HORIZON"
  batch_size                         = var.notify_batch_size
  maximum_batching_window_in_seconds = var.notify_batching_window_seconds
  bisect_batch_on_function_error     = true
  maximum_retry_attempts             = var.notify_maximum_retry_attempts
  maximum_record_age_in_seconds      = var.notify_maximum_record_age_seconds
  # One batch per shard at a time: records of one stream id stay in order.
  parallelization_factor  = 1
  function_response_types = ["ReportBatchItemFailures"]

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.notify_failures.arn
    }
  }

  # Only new commits and deletions: commits (a digest) INSERTed, or MODIFYing a soft delete's marker when
  # they start the stream again (they name the marker they `replaces`; commits are never modified
  # otherwise); lifecycle markers (a kind) INSERTed, or MODIFYing a soft delete's marker into a tombstone.
  # Summaries (0), listing markers (-1) and control items (-2) are none of these, nor are feed items and
  # checkpoints (no digest, no kind).
  filter_criteria {
    dynamic "filter" {
      for_each = local.notified_writes
      content {
        pattern = jsonencode({
          eventName = filter.value.events
          dynamodb = {
            Keys = {
              (local.table.range_key) = { N = [{ "anything-but" = ["0", "-1", "-2"] }] }
            }
            NewImage = {
              (filter.value.attribute) = { S = [{ exists = true }] }
            }
          }
        })
      }
    }
  }

  depends_on = [aws_iam_role_policy.function]
}

# --- Example subscriber --------------------------------------------------------------------------------

resource "aws_sqs_queue" "example_subscriber" {
  name                      = "${local.name}-example-subscriber${local.topic_suffix}"
  fifo_queue                = var.topic_fifo
  message_retention_seconds = 345600
  sqs_managed_sse_enabled   = var.queues_kms_key_arn == null ? true : null
  kms_master_key_id         = var.queues_kms_key_arn
}

data "aws_iam_policy_document" "example_subscriber" {
  statement {
    sid       = "TopicDeliversNotifications"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.example_subscriber.arn]

    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_sns_topic.notifications.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "example_subscriber" {
  queue_url = aws_sqs_queue.example_subscriber.id
  policy    = data.aws_iam_policy_document.example_subscriber.json
}

resource "aws_sns_topic_subscription" "example_subscriber" {
  topic_arn            = aws_sns_topic.notifications.arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.example_subscriber.arn
  raw_message_delivery = true
  filter_policy_scope  = length(var.subscriber_stream_types) > 0 ? "MessageAttributes" : null
  filter_policy        = length(var.subscriber_stream_types) > 0 ? jsonencode({ StreamType = var.subscriber_stream_types }) : null

  depends_on = [aws_sqs_queue_policy.example_subscriber]
}
