# The alarms added for production operation (docs/operations.md explains each one: what it means, what
# to do). Every alarm fires on M of N one-minute periods (alarm_datapoints_to_alarm of
# alarm_evaluation_periods), so a single bad minute does not page anyone; thresholds are variables.
# The original alarms (5xx rate, function errors and throttles, iterator age, on-failure queue, listing
# marks) stay in observability.tf and use the same actions and evaluation.

variable "alarm_action_topic_arns" {
  type        = list(string)
  description = "Existing SNS topics (a pager's, a chat bridge's) every alarm notifies besides the workspace's alarm topic. A topic encrypted with a CMK must let cloudwatch.amazonaws.com use its key."
  default     = []

  validation {
    condition     = alltrue([for arn in var.alarm_action_topic_arns : can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:.+$", arn))])
    error_message = "alarm_action_topic_arns must hold SNS topic ARNs."
  }
}

variable "alarm_evaluation_periods" {
  type        = number
  description = "N: how many one-minute periods an alarm looks at."
  default     = 5

  validation {
    condition     = var.alarm_evaluation_periods >= 1 && var.alarm_evaluation_periods <= 60
    error_message = "alarm_evaluation_periods must be between 1 and 60."
  }
}

variable "alarm_datapoints_to_alarm" {
  type        = number
  description = "M: how many of the N periods must breach before an alarm fires."
  default     = 3

  validation {
    condition     = var.alarm_datapoints_to_alarm >= 1 && var.alarm_datapoints_to_alarm <= var.alarm_evaluation_periods
    error_message = "alarm_datapoints_to_alarm must be between 1 and alarm_evaluation_periods."
  }
}

variable "alarm_api_p99_latency_ms" {
  type        = number
  description = "Alarm when the API's p99 latency (API Gateway's Latency, ms) exceeds this."
  default     = 1000

  validation {
    condition     = var.alarm_api_p99_latency_ms > 0 && var.alarm_api_p99_latency_ms <= 29000
    error_message = "alarm_api_p99_latency_ms must be in (0, 29000]."
  }
}

variable "alarm_api_403_percent" {
  type        = number
  description = "Alarm when more than this percentage of requests are refused with 403 (signatures, IAM, resource policy, WAF)."
  default     = 5

  validation {
    condition     = var.alarm_api_403_percent > 0 && var.alarm_api_403_percent <= 100
    error_message = "alarm_api_403_percent must be in (0, 100]."
  }
}

variable "alarm_api_429_percent" {
  type        = number
  description = "Alarm when more than this percentage of requests are throttled with 429 (the API's throttle)."
  default     = 1

  validation {
    condition     = var.alarm_api_429_percent > 0 && var.alarm_api_429_percent <= 100
    error_message = "alarm_api_429_percent must be in (0, 100]."
  }
}

variable "alarm_duration_percent_of_timeout" {
  type        = number
  description = "Alarm when a function's p99 duration exceeds this percentage of its timeout."
  default     = 80

  validation {
    condition     = var.alarm_duration_percent_of_timeout > 0 && var.alarm_duration_percent_of_timeout <= 100
    error_message = "alarm_duration_percent_of_timeout must be in (0, 100]."
  }
}

variable "alarm_dynamodb_throttled_per_minute" {
  type        = number
  description = "Alarm when the table or its index throttles more than this many requests a minute."
  default     = 0

  validation {
    condition     = var.alarm_dynamodb_throttled_per_minute >= 0
    error_message = "alarm_dynamodb_throttled_per_minute must not be negative."
  }
}

variable "alarm_notification_lag_p99_ms" {
  type        = number
  description = "Alarm when the p99 time from commit to SNS publish (NotificationLagMilliseconds) exceeds this."
  default     = 30000

  validation {
    condition     = var.alarm_notification_lag_p99_ms > 0
    error_message = "alarm_notification_lag_p99_ms must be positive."
  }
}

variable "alarm_on_failure_oldest_age_seconds" {
  type        = number
  description = "Alarm when the oldest record in the on-failure queue is older than this: replay it before the queue's 14-day retention drops it."
  default     = 86400

  validation {
    condition     = var.alarm_on_failure_oldest_age_seconds >= 60 && var.alarm_on_failure_oldest_age_seconds < 1209600
    error_message = "alarm_on_failure_oldest_age_seconds must be at least 60 and below the queue's retention (1209600)."
  }
}

locals {
  alarm_actions = concat([aws_sns_topic.alarms.arn], var.alarm_action_topic_arns)
  api_alarm_dimensions = {
    ApiName = aws_api_gateway_rest_api.this.name
    Stage   = aws_api_gateway_stage.this.stage_name
  }
  # API Gateway publishes no per-status metric (4XXError also counts the 409s of normal conflicts):
  # the access log's status gives the 403 and 429 counts.
  access_log_namespace = "${local.metrics_namespace}/${local.name}"
  access_log_statuses  = ["403", "429"]
  # Operations the functions call on the table (SystemErrors is published per operation).
  table_operations = ["BatchGetItem", "GetItem", "GetRecords", "PutItem", "Query", "UpdateItem"]

  requests = { namespace = "AWS/ApiGateway", metric = "Count", dimensions = local.api_alarm_dimensions, stat = "Sum" }

  # name suffix => description, threshold, the metrics (by query id) and, when there are several, the
  # expression the alarm watches.
  production_alarms = merge(
    {
      api-p99-latency = {
        description = "API p99 latency above ${var.alarm_api_p99_latency_ms} ms."
        threshold   = var.alarm_api_p99_latency_ms
        metrics     = { latency = { namespace = "AWS/ApiGateway", metric = "Latency", dimensions = local.api_alarm_dimensions, stat = "p99" } }
        expression  = null
      }
      table-throttles = {
        description = "The table throttled more than ${var.alarm_dynamodb_throttled_per_minute} requests a minute."
        threshold   = var.alarm_dynamodb_throttled_per_minute
        metrics = {
          reads  = { namespace = "AWS/DynamoDB", metric = "ReadThrottleEvents", dimensions = { TableName = aws_dynamodb_table.events.name }, stat = "Sum" }
          writes = { namespace = "AWS/DynamoDB", metric = "WriteThrottleEvents", dimensions = { TableName = aws_dynamodb_table.events.name }, stat = "Sum" }
        }
        expression = "FILL(reads, 0) + FILL(writes, 0)"
      }
      table-system-errors = {
        description = "DynamoDB answered requests on the table with 500s (SystemErrors)."
        threshold   = 0
        metrics = {
          for operation in local.table_operations : lower(operation) => {
            namespace  = "AWS/DynamoDB", metric = "SystemErrors", stat = "Sum"
            dimensions = { TableName = aws_dynamodb_table.events.name, Operation = operation }
          }
        }
        expression = join(" + ", [for operation in local.table_operations : "FILL(${lower(operation)}, 0)"])
      }
      notifications-failed = {
        description = "notify_stream could not publish commits to SNS (NotificationsFailed)."
        threshold   = 0
        metrics     = { failed = { namespace = local.metrics_namespace, metric = "NotificationsFailed", dimensions = { service = local.service_name }, stat = "Sum" } }
        expression  = null
      }
      notification-lag-p99 = {
        description = "p99 time from commit to notification above ${var.alarm_notification_lag_p99_ms} ms."
        threshold   = var.alarm_notification_lag_p99_ms
        metrics     = { lag = { namespace = local.metrics_namespace, metric = "NotificationLagMilliseconds", dimensions = { service = local.service_name }, stat = "p99" } }
        expression  = null
      }
      sns-delivery-failures = {
        description = "SNS failed to deliver notifications to subscribers (NumberOfNotificationsFailed)."
        threshold   = 0
        metrics     = { failed = { namespace = "AWS/SNS", metric = "NumberOfNotificationsFailed", dimensions = { TopicName = aws_sns_topic.notifications.name }, stat = "Sum" } }
        expression  = null
      }
      notify-failures-oldest = {
        description = "A record in the on-failure queue is older than ${var.alarm_on_failure_oldest_age_seconds} s and not yet replayed."
        threshold   = var.alarm_on_failure_oldest_age_seconds
        metrics     = { age = { namespace = "AWS/SQS", metric = "ApproximateAgeOfOldestMessage", dimensions = { QueueName = aws_sqs_queue.notify_failures.name }, stat = "Maximum" } }
        expression  = null
      }
    },
    {
      for status in local.access_log_statuses : "api-${status}-rate" => {
        description = "More than ${status == "403" ? var.alarm_api_403_percent : var.alarm_api_429_percent}% of API requests answered ${status}."
        threshold   = status == "403" ? var.alarm_api_403_percent : var.alarm_api_429_percent
        metrics = {
          requests = local.requests
          status   = { namespace = local.access_log_namespace, metric = "ApiStatus${status}", dimensions = {}, stat = "Sum" }
        }
        expression = "IF(requests > 0, 100 * FILL(status, 0) / requests, 0)"
      }
    },
    {
      for index in keys(local.gsi) : "index-${index}-throttles" => {
        description = "The ${index} index throttled more than ${var.alarm_dynamodb_throttled_per_minute} requests a minute (its writes throttle the table's writes too)."
        threshold   = var.alarm_dynamodb_throttled_per_minute
        metrics = {
          reads  = { namespace = "AWS/DynamoDB", metric = "ReadThrottleEvents", dimensions = { TableName = aws_dynamodb_table.events.name, GlobalSecondaryIndexName = index }, stat = "Sum" }
          writes = { namespace = "AWS/DynamoDB", metric = "WriteThrottleEvents", dimensions = { TableName = aws_dynamodb_table.events.name, GlobalSecondaryIndexName = index }, stat = "Sum" }
        }
        expression = "FILL(reads, 0) + FILL(writes, 0)"
      }
    },
    {
      for key, function in local.functions : "${replace(key, "_", "-")}-duration-near-timeout" => {
        description = "${key}'s p99 duration is above ${var.alarm_duration_percent_of_timeout}% of its ${function.timeout} s timeout."
        threshold   = function.timeout * 1000 * var.alarm_duration_percent_of_timeout / 100
        metrics     = { duration = { namespace = "AWS/Lambda", metric = "Duration", dimensions = { FunctionName = local.function_names[key] }, stat = "p99" } }
        expression  = null
      }
    },
  )
}

resource "aws_cloudwatch_log_metric_filter" "api_status" {
  for_each       = toset(local.access_log_statuses)
  name           = "${local.name}-api-status-${each.key}"
  log_group_name = aws_cloudwatch_log_group.api_access.name
  # The access log writes $context.status as a JSON string.
  pattern = "{ $.status = \"${each.key}\" }"

  metric_transformation {
    namespace     = local.access_log_namespace
    name          = "ApiStatus${each.key}"
    value         = "1"
    default_value = "0"
    unit          = "Count"
  }
}

resource "aws_cloudwatch_metric_alarm" "production" {
  for_each            = local.production_alarms
  alarm_name          = "${local.name}-${each.key}"
  alarm_description   = "${each.value.description} Runbook: docs/operations.md."
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  evaluation_periods  = var.alarm_evaluation_periods
  datapoints_to_alarm = var.alarm_datapoints_to_alarm
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  dynamic "metric_query" {
    for_each = each.value.expression == null ? [] : [each.value.expression]
    content {
      id          = "alarm"
      expression  = metric_query.value
      label       = each.key
      return_data = true
    }
  }

  dynamic "metric_query" {
    for_each = each.value.metrics
    content {
      id          = metric_query.key
      return_data = each.value.expression == null ? true : null

      metric {
        namespace   = metric_query.value.namespace
        metric_name = metric_query.value.metric
        dimensions  = metric_query.value.dimensions
        stat        = metric_query.value.stat
        period      = 60
      }
    }
  }
}
