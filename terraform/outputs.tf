# What callers and operators need (`make describe` prints them).

output "api_url" {
  description = "Base URL of the API (the stage's invoke URL); every request must be SigV4-signed for execute-api."
  value       = aws_api_gateway_stage.this.invoke_url
}

output "api_execution_arn" {
  description = "execute-api ARN prefix of the API; IAM policies for callers append /<stage>/<METHOD>/<path>."
  value       = aws_api_gateway_rest_api.this.execution_arn
}

output "table_name" {
  description = "The DynamoDB table holding the streams."
  value       = aws_dynamodb_table.events.name
}

output "topic_arn" {
  description = "SNS topic notified of every commit (message attribute StreamType for filter policies)."
  value       = aws_sns_topic.notifications.arn
}

output "example_subscriber_queue_url" {
  description = "The example subscriber queue receiving the topic's notifications."
  value       = aws_sqs_queue.example_subscriber.id
}

output "on_failure_queue_url" {
  description = "SQS queue receiving the stream records notify_stream gave up on (alarmed when not empty)."
  value       = aws_sqs_queue.notify_failures.id
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms notify."
  value       = aws_sns_topic.alarms.arn
}

output "dashboard_url" {
  description = "The workspace's CloudWatch dashboard in the AWS console."
  value       = "https://${local.region}.console.aws.amazon.com/cloudwatch/home?region=${local.region}#dashboards:name=${aws_cloudwatch_dashboard.this.dashboard_name}"
}

output "function_names" {
  description = "Lambda function names by handler folder (functions/<name>)."
  value       = { for key, function in aws_lambda_function.this : key => function.function_name }
}

# --- Example caller policies ---------------------------------------------------------------------------
# execute-api ARNs carry the stage, the method and the path, so IAM can scope a caller to stream types:
# arn:aws:execute-api:<region>:<account>:<api id>/<stage>/<METHOD>/streams/<type>/...

locals {
  api_arn_prefix = "${aws_api_gateway_rest_api.this.execution_arn}/${aws_api_gateway_stage.this.stage_name}"
  writer_type    = var.example_writer_stream_type
}

data "aws_iam_policy_document" "example_writer" {
  statement {
    sid     = "ReadAndWriteOneStreamType"
    actions = ["execute-api:Invoke"]
    resources = [
      "${local.api_arn_prefix}/POST/streams/${local.writer_type}",
      "${local.api_arn_prefix}/POST/streams/${local.writer_type}/*",
      "${local.api_arn_prefix}/PUT/streams/${local.writer_type}/*",
      "${local.api_arn_prefix}/GET/streams/${local.writer_type}",
      "${local.api_arn_prefix}/GET/streams/${local.writer_type}/*",
      "${local.api_arn_prefix}/GET/liveness-check",
    ]
  }
}

data "aws_iam_policy_document" "example_reader" {
  statement {
    sid     = "ReadEveryStream"
    actions = ["execute-api:Invoke"]
    resources = [
      "${local.api_arn_prefix}/GET/streams/*",
      "${local.api_arn_prefix}/GET/liveness-check",
    ]
  }
}

output "example_writer_policy_json" {
  description = "IAM policy for a caller that may create, append to and read streams of type var.example_writer_stream_type only."
  value       = data.aws_iam_policy_document.example_writer.json
}

output "example_reader_policy_json" {
  description = "IAM policy for a read-only caller: GET on every stream type, no writes."
  value       = data.aws_iam_policy_document.example_reader.json
}

output "keys_table_name" {
  description = "The DynamoDB table holding each data subject's wrapped data key and erasure record."
  value       = aws_dynamodb_table.data_subject_keys.name
}

output "data_key_arn" {
  description = "The KMS key that wraps data subjects' data keys (CloudTrail shows each use with its subject)."
  value       = aws_kms_key.data_keys.arn
}

output "canary_deployments" {
  description = "What `make deploy` reads (canary_deployments on; null when off): the CodeDeploy application and its region, the alias, and each deployment group's function."
  value = var.canary_deployments ? {
    application       = aws_codedeploy_app.functions[0].name
    region            = local.region
    alias             = local.live_alias_name
    deployment_groups = { for key, group in aws_codedeploy_deployment_group.function : group.deployment_group_name => local.function_names[key] }
  } : null
}

output "payload_bucket_name" {
  description = "The S3 bucket holding payloads too large for a commit item, as <streamId>/<sha256>; deleting a stream deletes its prefix."
  value       = aws_s3_bucket.payloads.bucket
}

output "archive_bucket" {
  description = "The archive bucket (null when archive_enabled is false): `eventstore archive read --bucket`."
  value       = local.archive_bucket
}

output "removal_function_name" {
  description = "The scheduled removal function (remove_expired)."
  value       = aws_lambda_function.this["remove_expired"].function_name
}
