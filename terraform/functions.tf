# The Lambda functions (one per endpoint, plus notify_stream), the shared layer, their log groups and
# one IAM role per function. Environment and permissions follow docs/design.md exactly.

locals {
  table_arn = aws_dynamodb_table.events.arn

  common_environment = merge(
    {
      POWERTOOLS_SERVICE_NAME      = local.service_name
      POWERTOOLS_METRICS_NAMESPACE = local.metrics_namespace
    },
    var.functions_aws_endpoint_url == "" ? {} : { AWS_ENDPOINT_URL = var.functions_aws_endpoint_url },
  )
  table_environment = { EVENTSTORE_TABLE_NAME = aws_dynamodb_table.events.name }
  # Writers and notify_stream need the settle window too: a commit written later than half of it after
  # its timestamp gets a fresh listing entry (docs/design.md, "Listing").
  listing_environment = merge(local.table_environment, {
    EVENTSTORE_LISTING_SETTLE_SECONDS = tostring(var.listing_settle_seconds)
  })

  # Per function: description, timeout, environment and the statements of its role (besides its own
  # log group and X-Ray, which every function gets). erasure.tf adds its functions, and its statements and
  # environment to the event functions; lifecycle.tf its functions and the readers' retention defaults;
  # removal.tf the scheduled removal.
  functions = merge(local.erasure_functions, local.lifecycle_functions, local.removal_functions, {
    create_stream = {
      description = "POST /streams/{streamType}: create a stream with its first events"
      timeout     = var.lambda_timeout_seconds
      environment = local.listing_environment
      statements = [
        { sid = "WriteAndReadCommits", actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"], resources = [local.table_arn] },
      ]
    }
    append_event = {
      description = "POST/PUT /streams/{streamType}/{streamId}/events: append events"
      timeout     = var.lambda_timeout_seconds
      environment = local.listing_environment
      statements = [
        { sid = "WriteAndReadCommits", actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"], resources = [local.table_arn] },
      ]
    }
    read_events = {
      description = "GET /streams/{streamType}/{streamId}/events and /details: read a stream"
      timeout     = var.lambda_timeout_seconds
      environment = local.table_environment
      statements = [
        { sid = "ReadCommits", actions = ["dynamodb:GetItem", "dynamodb:Query"], resources = [local.table_arn] },
      ]
    }
    list_streams = {
      description = "GET /streams/{streamType}: list the streams of a type"
      timeout     = var.lambda_timeout_seconds
      environment = merge(local.listing_environment, {
        EVENTSTORE_PAGE_KEY_KMS_KEY_ID = aws_kms_key.page_key.key_id
      })
      statements = [
        { sid = "QueryListingIndex", actions = ["dynamodb:Query"], resources = ["${local.table_arn}/index/${local.listing_index}"] },
        { sid = "SignPageKeys", actions = ["kms:GenerateMac"], resources = [aws_kms_key.page_key.arn] },
      ]
    }
    read_feed = {
      description = "GET /feed, /streams/{streamType}/feed and /stream-types: read a feed from a position, list the stream types"
      timeout     = var.lambda_timeout_seconds
      environment = local.table_environment
      statements = [
        { sid = "ReadFeedItemsAndCommits", actions = ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query"], resources = [local.table_arn] },
      ]
    }
    checkpoints = {
      description = "GET/PUT /checkpoints/{name}: consumers' stored feed positions"
      timeout     = var.lambda_timeout_seconds
      environment = local.table_environment
      statements = [
        {
          sid       = "ReadAndWriteCheckpointsOnly"
          actions   = ["dynamodb:GetItem", "dynamodb:PutItem"]
          resources = [local.table_arn]
          # Only the checkpoint items' partition keys ($checkpoint:<name>): never a stream or a feed.
          conditions = [{ test = "ForAllValues:StringLike", variable = "dynamodb:LeadingKeys", values = ["${local.checkpoint_key_prefix}*"] }]
        },
      ]
    }
    snapshots = {
      description = "GET/PUT /streams/{streamType}/{streamId}/snapshot: a stream's snapshot"
      timeout     = var.lambda_timeout_seconds
      environment = local.table_environment
      # Named attributes only (every request sends a projection), so never an event: a commit's revision
      # fields to check the snapshot's revision, and the snapshot item's own attributes. IAM has no
      # condition on the sort key, so the item's key (revision -3) is held by the code's conditional put.
      statements = [
        {
          sid        = "ReadStreamRevisionOnly"
          actions    = ["dynamodb:Query"]
          resources  = [local.table_arn]
          conditions = local.snapshot_conditions.commit
        },
        {
          sid        = "ReadAndWriteSnapshotAttributesOnly"
          actions    = ["dynamodb:GetItem", "dynamodb:PutItem"]
          resources  = [local.table_arn]
          conditions = local.snapshot_conditions.snapshot
        },
      ]
    }
    liveness_check = {
      description = "GET /liveness-check"
      timeout     = var.lambda_timeout_seconds
      environment = {}
      statements  = []
    }
    notify_stream = {
      description = "DynamoDB stream -> feeds and SNS: append new commits to the feeds, publish them, advance stream summaries"
      timeout     = var.notify_timeout_seconds
      environment = merge(local.listing_environment, { EVENTSTORE_TOPIC_ARN = aws_sns_topic.notifications.arn })
      statements = [
        {
          sid       = "ReadTableStream"
          actions   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]
          resources = [aws_dynamodb_table.events.stream_arn]
        },
        # Commits and summaries, the feed items ($feed) it appends with conditional puts, and the stream
        # type registry ($stream-types) it writes once per new type.
        { sid = "ReadCommitsWriteFeedsAdvanceSummaries", actions = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"], resources = [local.table_arn] },
        { sid = "PublishNotifications", actions = ["sns:Publish"], resources = [aws_sns_topic.notifications.arn] },
        { sid = "SendFailedBatchesToQueue", actions = ["sqs:SendMessage"], resources = [aws_sqs_queue.notify_failures.arn] },
        { sid = "EncryptForTopic", actions = ["kms:Decrypt", "kms:GenerateDataKey"], resources = [aws_kms_key.topics.arn] },
      ]
    }
  })

  snapshot_conditions = {
    for name, attributes in {
      commit   = local.table.snapshots.commit_attributes
      snapshot = local.table.snapshots.attributes
      } : name => [
      { test = "ForAllValues:StringEquals", variable = "dynamodb:Attributes", values = attributes },
      { test = "StringEqualsIfExists", variable = "dynamodb:Select", values = ["SPECIFIC_ATTRIBUTES"] },
    ]
  }

  # The partition key prefix of checkpoint items (eventstore.feeds, FEED_DESIGN: `$checkpoint:<name>`).
  checkpoint_key_prefix = "$checkpoint:"

  function_names = { for name, _ in local.functions : name => "${local.name}-${replace(name, "_", "-")}" }

  # The index list_streams queries, and the one the removal function queries (table.json names both).
  listing_index    = local.table.listing_index
  listing_position = local.gsi[local.table.listing_index].range_key
  removal_index    = local.table.removal_index

  # JSON on AWS. Left out on emulators: moto 5.2 drops LoggingConfig, so every re-plan would add it again.
  function_log_formats = local.emulated ? [] : ["JSON"]

  # Written by `make build`: what the zips were built for.
  build_manifest = jsondecode(file("${local.build_dir}/manifest.json"))
}

# --- Layer ---------------------------------------------------------------------------------------------

resource "aws_lambda_layer_version" "shared" {
  layer_name               = "${local.name}-shared"
  description              = "The eventstore package and its dependencies (make build)"
  filename                 = "${local.build_dir}/layer.zip"
  source_code_hash         = filebase64sha256("${local.build_dir}/layer.zip")
  compatible_runtimes      = [var.lambda_runtime]
  compatible_architectures = [var.lambda_architecture]

  lifecycle {
    precondition {
      condition     = local.build_manifest.architecture == var.lambda_architecture && "python${local.build_manifest.python_version}" == var.lambda_runtime
      error_message = "build/ holds a ${local.build_manifest.architecture} / Python ${local.build_manifest.python_version} build; run `make build ARCH=${var.lambda_architecture}` for ${var.lambda_runtime}."
    }
  }
}

# --- Functions -----------------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "function" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts at rest with its own key by default; logs_kms_key_arn (keys.tf) selects a CMK
  #checkov:skip=CKV_AWS_338:retention is var.log_retention_days, chosen per workspace
  for_each          = local.function_names
  name              = "/aws/lambda/${each.value}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:API functions are invoked synchronously and notify_stream has its mapping's on-failure queue; a DLQ would never be used
  #checkov:skip=CKV_AWS_117:the functions reach only public AWS endpoints; there is no VPC to attach to
  #checkov:skip=CKV_AWS_115:API functions are bounded by the stage's throttling (reserving would starve the others); remove_expired reserves 1
  #checkov:skip=CKV_AWS_173:the environment holds names and ids only; lambda_environment_kms_key_arn (keys.tf) selects a CMK where policy demands one
  #checkov:skip=CKV_AWS_272:code signing needs a signing profile this project does not manage; artifacts are built reproducibly by make build
  for_each         = local.functions
  function_name    = local.function_names[each.key]
  description      = each.value.description
  role             = aws_iam_role.function[each.key].arn
  handler          = "handler.handler"
  runtime          = var.lambda_runtime
  architectures    = [var.lambda_architecture]
  memory_size      = var.lambda_memory_mb
  timeout          = each.value.timeout
  filename         = "${local.build_dir}/functions/${each.key}.zip"
  source_code_hash = filebase64sha256("${local.build_dir}/functions/${each.key}.zip")
  layers           = [aws_lambda_layer_version.shared.arn]
  kms_key_arn      = var.lambda_environment_kms_key_arn
  # Only remove_expired reserves any (1: runs never overlap, so a stream's manifest has one writer).
  reserved_concurrent_executions = try(each.value.reserved_concurrency, -1)
  # Every change publishes a version; callers invoke the "live" alias (deploys.tf).
  publish = true

  environment {
    variables = merge(
      local.common_environment,
      each.value.environment,
      lookup(local.erasure_environment, each.key, {}),
      contains(keys(local.payload_statements), each.key) ? local.payload_environment : {},
      lookup(local.lifecycle_environment, each.key, {}),
    )
  }

  tracing_config {
    mode = "Active"
  }

  # The functions write JSON lines (eventstore.observability); Lambda's own lines (START, REPORT) follow.
  dynamic "logging_config" {
    for_each = local.function_log_formats
    content {
      log_format = logging_config.value
      log_group  = aws_cloudwatch_log_group.function[each.key].name
    }
  }

  dynamic "snap_start" {
    for_each = local.function_snap_start
    content {
      apply_on = snap_start.value
    }
  }

  depends_on = [aws_cloudwatch_log_group.function, aws_iam_role_policy.function]
}

# --- One role per function -----------------------------------------------------------------------------

data "aws_iam_policy_document" "lambda_assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each           = local.function_names
  name               = each.value
  description        = "${each.value}: only what docs/design.md lists for ${each.key}"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume_role.json
}

data "aws_iam_policy_document" "function" {
  for_each = local.functions

  statement {
    sid       = "WriteOwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:log-stream:*"]
  }

  # The one statement with Resource "*": X-Ray has no resource-level permissions for these actions
  # (Service Authorization Reference, AWS X-Ray: no resource types), so "*" is the only valid value.
  statement {
    sid       = "XRayHasNoResourceLevelPermissions"
    actions   = ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = concat(
      each.value.statements,
      lookup(local.erasure_statements, each.key, []),
      lookup(local.payload_statements, each.key, []),
    )
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources

      dynamic "condition" {
        for_each = try(statement.value.conditions, [])
        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }

  # The keys this function uses, when customer-managed keys are configured (keys.tf).
  dynamic "statement" {
    for_each = local.function_key_statements[each.key]
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
      dynamic "condition" {
        for_each = statement.value.condition
        content {
          test     = condition.value.test
          variable = condition.value.variable
          values   = condition.value.values
        }
      }
    }
  }

  # list_streams asks whether a newer commit exists and has settled (BatchGetItem of keys): it may read
  # the keys and the listing position only, never events (the AWS example "Allows access to specific
  # attributes").
  dynamic "statement" {
    for_each = each.key == "list_streams" ? ["CheckForNewerCommits"] : []
    content {
      sid       = statement.value
      actions   = ["dynamodb:BatchGetItem"]
      resources = [local.table_arn]
      condition {
        test     = "ForAllValues:StringEquals"
        variable = "dynamodb:Attributes"
        values   = [local.table.hash_key, local.table.range_key, local.listing_position]
      }
      condition {
        test     = "StringEqualsIfExists"
        variable = "dynamodb:Select"
        values   = ["SPECIFIC_ATTRIBUTES"]
      }
    }
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions
  name     = "least-privilege"
  role     = aws_iam_role.function[each.key].id
  policy   = data.aws_iam_policy_document.function[each.key].json
}
