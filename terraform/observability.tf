# Operators' view: one CloudWatch dashboard per workspace and the alarms, which notify an (encrypted)
# alarm topic with an optional e-mail subscription.

locals {
  dashboard_name = local.name
  api_dimensions = ["ApiName", aws_api_gateway_rest_api.this.name, "Stage", aws_api_gateway_stage.this.stage_name]
  function_keys  = sort(keys(local.functions))
  notify_name    = local.function_names["notify_stream"]

  # One line per function in each Lambda widget.
  lambda_lines = {
    for metric in ["Invocations", "Errors", "Throttles", "ConcurrentExecutions"] : metric => [
      for key in local.function_keys : [
        "AWS/Lambda", metric, "FunctionName", local.function_names[key],
        { label = key, stat = metric == "ConcurrentExecutions" ? "Maximum" : "Sum" },
      ]
    ]
  }
  # One error rate per function: hidden lines e<n> (errors) and i<n> (invocations), shown r<n> = e / i.
  lambda_error_rate_lines = concat(
    [for index, key in local.function_keys : [{ expression = "IF(i${index} > 0, 100 * e${index} / i${index}, 0)", label = key, id = "r${index}" }]],
    [
      for pair in setproduct(range(length(local.function_keys)), ["Errors", "Invocations"]) :
      ["AWS/Lambda", pair[1], "FunctionName", local.function_names[local.function_keys[pair[0]]], { stat = "Sum", id = "${lower(substr(pair[1], 0, 1))}${pair[0]}", visible = false }]
    ],
  )
  duration_lines = [
    for pair in setproduct(local.function_keys, ["p50", "p99"]) :
    ["AWS/Lambda", "Duration", "FunctionName", local.function_names[pair[0]], { label = "${pair[0]} ${pair[1]}", stat = pair[1] }]
  ]

  widgets = [
    { title = "API requests", metrics = [concat(["AWS/ApiGateway", "Count"], local.api_dimensions, [{ stat = "Sum" }])] },
    {
      # Rates, not counts (4xx includes normal 409 conflicts; 403 and 429 come from the access log).
      title = "API error rates (% of requests)"
      metrics = [
        [{ expression = "IF(req > 0, 100 * e5 / req, 0)", label = "5xx %", id = "r5" }],
        [{ expression = "IF(req > 0, 100 * e4 / req, 0)", label = "4xx % (incl. 409)", id = "r4" }],
        [{ expression = "IF(req > 0, 100 * FILL(s403, 0) / req, 0)", label = "403 %", id = "r403" }],
        [{ expression = "IF(req > 0, 100 * FILL(s429, 0) / req, 0)", label = "429 %", id = "r429" }],
        concat(["AWS/ApiGateway", "Count"], local.api_dimensions, [{ stat = "Sum", id = "req", visible = false }]),
        concat(["AWS/ApiGateway", "5XXError"], local.api_dimensions, [{ stat = "Sum", id = "e5", visible = false }]),
        concat(["AWS/ApiGateway", "4XXError"], local.api_dimensions, [{ stat = "Sum", id = "e4", visible = false }]),
        [local.access_log_namespace, "ApiStatus403", { stat = "Sum", id = "s403", visible = false }],
        [local.access_log_namespace, "ApiStatus429", { stat = "Sum", id = "s429", visible = false }],
      ]
    },
    {
      title = "API latency (ms)"
      metrics = [
        concat(["AWS/ApiGateway", "Latency"], local.api_dimensions, [{ stat = "p50", label = "p50" }]),
        concat(["AWS/ApiGateway", "Latency"], local.api_dimensions, [{ stat = "p99", label = "p99" }]),
        concat(["AWS/ApiGateway", "IntegrationLatency"], local.api_dimensions, [{ stat = "p99", label = "integration p99" }]),
      ]
    },
    { title = "Lambda invocations", metrics = local.lambda_lines["Invocations"] },
    { title = "Lambda errors", metrics = local.lambda_lines["Errors"] },
    { title = "Lambda error rate (% of invocations)", metrics = local.lambda_error_rate_lines },
    { title = "Lambda throttles", metrics = local.lambda_lines["Throttles"] },
    { title = "Lambda duration p50 / p99 (ms)", metrics = local.duration_lines },
    { title = "Lambda concurrent executions", metrics = local.lambda_lines["ConcurrentExecutions"] },
    {
      title = "DynamoDB consumed capacity"
      metrics = [
        ["AWS/DynamoDB", "ConsumedReadCapacityUnits", "TableName", aws_dynamodb_table.events.name, { stat = "Sum" }],
        ["AWS/DynamoDB", "ConsumedWriteCapacityUnits", "TableName", aws_dynamodb_table.events.name, { stat = "Sum" }],
      ]
    },
    {
      title = "DynamoDB throttles and conditional-check failures"
      metrics = [
        ["AWS/DynamoDB", "ReadThrottleEvents", "TableName", aws_dynamodb_table.events.name, { stat = "Sum" }],
        ["AWS/DynamoDB", "WriteThrottleEvents", "TableName", aws_dynamodb_table.events.name, { stat = "Sum" }],
        ["AWS/DynamoDB", "ConditionalCheckFailedRequests", "TableName", aws_dynamodb_table.events.name, { stat = "Sum" }],
      ]
    },
    {
      title = "DynamoDB throttles by index, system errors"
      metrics = concat(
        [
          for pair in setproduct(keys(local.gsi), ["ReadThrottleEvents", "WriteThrottleEvents"]) :
          ["AWS/DynamoDB", pair[1], "TableName", aws_dynamodb_table.events.name, "GlobalSecondaryIndexName", pair[0], { stat = "Sum", label = "${pair[0]} ${pair[1]}" }]
        ],
        [
          for operation in local.table_operations :
          ["AWS/DynamoDB", "SystemErrors", "TableName", aws_dynamodb_table.events.name, "Operation", operation, { stat = "Sum", label = "SystemErrors ${operation}" }]
        ],
      )
    },
    {
      title   = "Stream iterator age (ms)"
      metrics = [["AWS/Lambda", "IteratorAge", "FunctionName", local.notify_name, { stat = "Maximum" }]]
    },
    {
      title = "Notifications published / failed"
      metrics = [
        ["AWS/SNS", "NumberOfMessagesPublished", "TopicName", aws_sns_topic.notifications.name, { stat = "Sum" }],
        ["AWS/SNS", "NumberOfNotificationsFailed", "TopicName", aws_sns_topic.notifications.name, { stat = "Sum" }],
        [local.metrics_namespace, "NotificationsPublished", "service", local.service_name, { stat = "Sum" }],
        [local.metrics_namespace, "NotificationsFailed", "service", local.service_name, { stat = "Sum" }],
        [local.metrics_namespace, "ListingMarksFailed", "service", local.service_name, { stat = "Sum" }],
      ]
    },
    {
      title = "Notification lag (ms)"
      metrics = [
        [local.metrics_namespace, "NotificationLagMilliseconds", "service", local.service_name, { stat = "p50", label = "p50" }],
        [local.metrics_namespace, "NotificationLagMilliseconds", "service", local.service_name, { stat = "p99", label = "p99" }],
      ]
    },
    {
      # Append → its events readable in the feeds (notify_stream, per fed commit).
      title = "Feed lag (ms)"
      metrics = [
        [local.metrics_namespace, "FeedLagMilliseconds", "service", local.service_name, { stat = "p50", label = "p50" }],
        [local.metrics_namespace, "FeedLagMilliseconds", "service", local.service_name, { stat = "p99", label = "p99" }],
      ]
    },
    {
      # Conflicts: two notify_stream instances (shards) took the same feed position; the loser retries.
      title = "Feed items written / write conflicts"
      metrics = [
        for metric in ["FeedItemsWritten", "FeedWriteConflicts"] :
        [local.metrics_namespace, metric, "service", local.service_name, { stat = "Sum" }]
      ]
    },
    {
      title = "Appends, conflicts and idempotent replays"
      metrics = [
        for metric in ["AppendsAccepted", "EventsAppended", "StreamsCreated", "AppendConflicts", "IdempotentReplays"] :
        [local.metrics_namespace, metric, "service", local.service_name, { stat = "Sum" }]
      ]
    },
    {
      title = "Queue depth"
      metrics = [
        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.notify_failures.name, { stat = "Maximum", label = "on-failure queue" }],
        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.example_subscriber.name, { stat = "Maximum", label = "example subscriber" }],
      ]
    },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = local.dashboard_name
  dashboard_body = jsonencode({
    widgets = [
      for index, widget in local.widgets : {
        type   = "metric"
        x      = (index % 3) * 8
        y      = floor(index / 3) * 6
        width  = 8
        height = 6
        properties = {
          title   = widget.title
          region  = local.region
          metrics = widget.metrics
          view    = "timeSeries"
          stacked = false
          period  = 60
        }
      }
    ]
  })
}

# --- Alarms --------------------------------------------------------------------------------------------

resource "aws_sns_topic" "alarms" {
  name              = "${local.name}-alarms"
  kms_master_key_id = aws_kms_key.topics.arn
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count     = var.alarm_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "api_5xx_rate" {
  alarm_name          = "${local.name}-api-5xx-rate"
  alarm_description   = "More than ${var.alarm_api_5xx_percent}% of API requests answered 5xx. Runbook: docs/operations.md."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_api_5xx_percent
  evaluation_periods  = var.alarm_evaluation_periods
  datapoints_to_alarm = var.alarm_datapoints_to_alarm
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "rate"
    expression  = "IF(requests > 0, 100 * errors / requests, 0)"
    label       = "5xx %"
    return_data = true
  }

  metric_query {
    id = "errors"
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "5XXError"
      period      = 60
      stat        = "Sum"
      dimensions  = { ApiName = aws_api_gateway_rest_api.this.name, Stage = aws_api_gateway_stage.this.stage_name }
    }
  }

  metric_query {
    id = "requests"
    metric {
      namespace   = "AWS/ApiGateway"
      metric_name = "Count"
      period      = 60
      stat        = "Sum"
      dimensions  = { ApiName = aws_api_gateway_rest_api.this.name, Stage = aws_api_gateway_stage.this.stage_name }
    }
  }
}

locals {
  # Every function gets an alarm on each of these Lambda metrics.
  lambda_alarm_metrics = {
    errors    = { metric = "Errors", why = "raised errors (unhandled exceptions or timeouts)" }
    throttles = { metric = "Throttles", why = "was throttled (account or reserved concurrency exhausted)" }
  }

  # Alarms that fire on any occurrence in M of N minutes, by alarm name.
  occurrence_alarms = merge(
    {
      for pair in setproduct(keys(local.function_names), keys(local.lambda_alarm_metrics)) :
      "${local.function_names[pair[0]]}-${pair[1]}" => {
        description = "${pair[0]} ${local.lambda_alarm_metrics[pair[1]].why}."
        namespace   = "AWS/Lambda"
        metric      = local.lambda_alarm_metrics[pair[1]].metric
        dimensions  = tomap({ FunctionName = local.function_names[pair[0]] })
        statistic   = "Sum"
      }
    },
    {
      "${local.name}-notify-failures-not-empty" = {
        description = "Stream records were given up on after retries (SNS or the table failing for too long): their notifications go out when their stream's next append fills the gap from the table."
        namespace   = "AWS/SQS"
        metric      = "ApproximateNumberOfMessagesVisible"
        dimensions  = tomap({ QueueName = aws_sqs_queue.notify_failures.name })
        statistic   = "Maximum"
      }
      "${local.name}-listing-marks-failed" = {
        description = "notify_stream could not give a commit that landed late a fresh listing entry (the table failing): a client listing with updated-after past that commit's time may not see its stream until the stream's next append."
        namespace   = local.metrics_namespace
        metric      = "ListingMarksFailed"
        dimensions  = tomap({ service = local.service_name })
        statistic   = "Sum"
      }
    },
  )
}

resource "aws_cloudwatch_metric_alarm" "occurrence" {
  for_each            = local.occurrence_alarms
  alarm_name          = each.key
  alarm_description   = "${each.value.description} Runbook: docs/operations.md."
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = 60
  evaluation_periods  = var.alarm_evaluation_periods
  datapoints_to_alarm = var.alarm_datapoints_to_alarm
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "iterator_age" {
  alarm_name          = "${local.name}-notify-iterator-age"
  alarm_description   = "notify_stream lags the table by more than ${var.alarm_iterator_age_ms} ms: notifications are late. Runbook: docs/operations.md."
  namespace           = "AWS/Lambda"
  metric_name         = "IteratorAge"
  dimensions          = { FunctionName = local.notify_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = var.alarm_evaluation_periods
  datapoints_to_alarm = var.alarm_datapoints_to_alarm
  threshold           = var.alarm_iterator_age_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "feed_lag" {
  alarm_name          = "${local.name}-feed-lag"
  alarm_description   = "Appended events take more than ${var.alarm_feed_lag_ms} ms (p99) to become readable in the feeds: feed consumers and notifications are late. Runbook: docs/operations.md."
  namespace           = local.metrics_namespace
  metric_name         = "FeedLagMilliseconds"
  dimensions          = { service = local.service_name }
  extended_statistic  = "p99"
  period              = 60
  evaluation_periods  = var.alarm_evaluation_periods
  datapoints_to_alarm = var.alarm_datapoints_to_alarm
  threshold           = var.alarm_feed_lag_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
