# The REST API: explicit resources and methods from shared/eventstore/routes.json (not an OpenAPI body, whose
# methods emulators strip of their authorization), every method AWS_IAM, Lambda proxy integrations, a
# deployment that follows every route change, and a stage with X-Ray, JSON access logs, metrics and
# throttling.

locals {
  routes_by_key = { for route in local.routes : "${route.method} ${route.path}" => route }

  # Every path prefix the routes need, by depth: API Gateway resources form a tree, and a resource's
  # parent must exist first. Terraform cannot point a for_each resource at its own instances, so each
  # depth is its own resource block below (five levels; the precondition on the API guards that).
  route_segments = { for path in distinct([for route in local.routes : route.path]) : path => split("/", trimprefix(path, "/")) }
  api_paths = distinct(flatten([
    for segments in values(local.route_segments) : [
      for depth in range(1, length(segments) + 1) : "/${join("/", slice(segments, 0, depth))}"
    ]
  ]))
  api_paths_by_depth = {
    for depth in range(1, 6) : depth => {
      for path in local.api_paths : path => {
        parent    = depth == 1 ? "/" : "/${join("/", slice(split("/", trimprefix(path, "/")), 0, depth - 1))}"
        path_part = element(split("/", path), depth)
      } if length(split("/", trimprefix(path, "/"))) == depth
    }
  }
  api_max_depth = max([for segments in values(local.route_segments) : length(segments)]...)

  api_resource_ids = merge(
    { "/" = aws_api_gateway_rest_api.this.root_resource_id },
    { for path, resource in aws_api_gateway_resource.depth1 : path => resource.id },
    { for path, resource in aws_api_gateway_resource.depth2 : path => resource.id },
    { for path, resource in aws_api_gateway_resource.depth3 : path => resource.id },
    { for path, resource in aws_api_gateway_resource.depth4 : path => resource.id },
    { for path, resource in aws_api_gateway_resource.depth5 : path => resource.id },
  )
}

resource "aws_api_gateway_rest_api" "this" {
  name        = local.name
  description = "Serverless event store (${terraform.workspace}); every method requires SigV4 (AWS_IAM)"

  endpoint_configuration {
    types            = [local.api_private ? "PRIVATE" : "REGIONAL"]
    vpc_endpoint_ids = local.api_private ? var.api_private_vpc_endpoint_ids : null
  }

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = local.api_max_depth <= 5
      error_message = "shared/eventstore/routes.json has a path deeper than five segments; add a depth level in terraform/api.tf."
    }
  }
}

# A resource policy on top of the callers' IAM policies, only when account ids are given or the API is
# private (edge.tf). "execute-api:/*" is API Gateway's shorthand for every method of the API the policy
# is attached to.
locals {
  api_policy = length(var.api_resource_policy_account_ids) > 0 || local.api_private ? 1 : 0
}

data "aws_iam_policy_document" "api" {
  count = local.api_policy

  dynamic "statement" {
    for_each = length(var.api_resource_policy_account_ids) > 0 ? [var.api_resource_policy_account_ids] : []
    content {
      sid       = "OnlyTheseAccountsMayInvoke"
      actions   = ["execute-api:Invoke"]
      resources = ["execute-api:/*"]

      principals {
        type        = "AWS"
        identifiers = [for id in statement.value : "arn:${local.partition}:iam::${id}:root"]
      }
    }
  }

  # A private API answers only requests that came through the listed VPC endpoints.
  dynamic "statement" {
    for_each = local.api_private ? [var.api_private_vpc_endpoint_ids] : []
    content {
      sid       = "OnlyThroughTheseVpcEndpoints"
      effect    = "Deny"
      actions   = ["execute-api:Invoke"]
      resources = ["execute-api:/*"]

      principals {
        type        = "AWS"
        identifiers = ["*"]
      }

      condition {
        test     = "StringNotEquals"
        variable = "aws:SourceVpce"
        values   = statement.value
      }
    }
  }
}

resource "aws_api_gateway_rest_api_policy" "this" {
  count       = local.api_policy
  rest_api_id = aws_api_gateway_rest_api.this.id
  policy      = data.aws_iam_policy_document.api[0].json
}

resource "aws_api_gateway_resource" "depth1" {
  for_each    = local.api_paths_by_depth[1]
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_rest_api.this.root_resource_id
  path_part   = each.value.path_part
}

resource "aws_api_gateway_resource" "depth2" {
  for_each    = local.api_paths_by_depth[2]
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_resource.depth1[each.value.parent].id
  path_part   = each.value.path_part
}

resource "aws_api_gateway_resource" "depth3" {
  for_each    = local.api_paths_by_depth[3]
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_resource.depth2[each.value.parent].id
  path_part   = each.value.path_part
}

resource "aws_api_gateway_resource" "depth4" {
  for_each    = local.api_paths_by_depth[4]
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_resource.depth3[each.value.parent].id
  path_part   = each.value.path_part
}

resource "aws_api_gateway_resource" "depth5" {
  for_each    = local.api_paths_by_depth[5]
  rest_api_id = aws_api_gateway_rest_api.this.id
  parent_id   = aws_api_gateway_resource.depth4[each.value.parent].id
  path_part   = each.value.path_part
}

# Path parameters must be present before a function runs; bodies and values are validated by the
# functions against openapi.yaml (with problem+json answers the gateway cannot produce).
resource "aws_api_gateway_request_validator" "parameters" {
  rest_api_id                 = aws_api_gateway_rest_api.this.id
  name                        = "path-and-query-parameters"
  validate_request_parameters = true
  validate_request_body       = false
}

resource "aws_api_gateway_method" "route" {
  for_each             = local.routes_by_key
  rest_api_id          = aws_api_gateway_rest_api.this.id
  resource_id          = local.api_resource_ids[each.value.path]
  http_method          = each.value.method
  operation_name       = each.value.operation
  authorization        = "AWS_IAM"
  request_validator_id = aws_api_gateway_request_validator.parameters.id
  request_parameters = {
    for name in regexall("\\{([^}]+)\\}", each.value.path) : "method.request.path.${name[0]}" => true
  }
}

resource "aws_api_gateway_integration" "route" {
  for_each                = local.routes_by_key
  rest_api_id             = aws_api_gateway_rest_api.this.id
  resource_id             = aws_api_gateway_method.route[each.key].resource_id
  http_method             = aws_api_gateway_method.route[each.key].http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST"
  uri                     = local.live_invoke_arns[each.value.function]
}

# API Gateway may invoke a function only for the routes it serves, on this API's stage.
resource "aws_lambda_permission" "route" {
  for_each      = local.routes_by_key
  statement_id  = "ApiGateway-${each.value.method}-${md5(each.value.path)}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this[each.value.function].function_name
  qualifier     = local.live_aliases[each.value.function].name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.this.execution_arn}/${var.api_stage_name}/${each.value.method}${replace(each.value.path, "/\\{[^}]+\\}/", "*")}"
}

resource "aws_api_gateway_deployment" "this" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  description = "${local.name} routes"

  # A new deployment whenever a route, method or integration changes (routes.json, functions).
  triggers = {
    redeployment = sha1(jsonencode([
      local.routes_by_key,
      local.api_resource_ids,
      [for key, method in aws_api_gateway_method.route : [key, method.id, method.authorization, method.request_validator_id]],
      [for key, integration in aws_api_gateway_integration.route : [key, integration.id, integration.uri]],
      length(aws_api_gateway_rest_api_policy.this) > 0 ? aws_api_gateway_rest_api_policy.this[0].policy : "",
      [for type, response in aws_api_gateway_gateway_response.problem : [type, response.id, response.response_templates, response.response_parameters]],
    ]))
  }

  lifecycle {
    create_before_destroy = true
  }

  depends_on = [aws_api_gateway_integration.route]
}

resource "aws_cloudwatch_log_group" "api_access" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts at rest with its own key; access logs hold no secrets
  #checkov:skip=CKV_AWS_338:retention is var.log_retention_days, chosen per workspace
  name              = "/aws/apigateway/${local.name}/access"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
}

# Execution logs (ERROR level) go here; created up front so it has a retention.
resource "aws_cloudwatch_log_group" "api_execution" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts at rest with its own key; execution logs at ERROR level hold no payloads
  #checkov:skip=CKV_AWS_338:retention is var.log_retention_days, chosen per workspace
  name              = "API-Gateway-Execution-Logs_${aws_api_gateway_rest_api.this.id}/${var.api_stage_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
}

resource "aws_api_gateway_stage" "this" {
  #checkov:skip=CKV_AWS_120:responses are per-stream reads that must be fresh; caching would serve stale revisions
  #checkov:skip=CKV2_AWS_51:callers authenticate with SigV4 (AWS_IAM); there is no backend to present client certificates to
  #checkov:skip=CKV2_AWS_29:WAF is optional (waf_web_acl_arn, edge.tf), a security-team choice with its own cost; IAM auth and throttling guard the API
  rest_api_id          = aws_api_gateway_rest_api.this.id
  deployment_id        = aws_api_gateway_deployment.this.id
  stage_name           = var.api_stage_name
  xray_tracing_enabled = true

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId          = "$context.requestId"
      extendedRequestId  = "$context.extendedRequestId"
      requestTime        = "$context.requestTime"
      httpMethod         = "$context.httpMethod"
      resourcePath       = "$context.resourcePath"
      path               = "$context.path"
      status             = "$context.status"
      protocol           = "$context.protocol"
      responseLength     = "$context.responseLength"
      responseLatency    = "$context.responseLatency"
      integrationLatency = "$context.integrationLatency"
      integrationStatus  = "$context.integrationStatus"
      errorMessage       = "$context.error.message"
      caller             = "$context.identity.caller"
      userArn            = "$context.identity.userArn"
      sourceIp           = "$context.identity.sourceIp"
      xrayTraceId        = "$context.xrayTraceId"
    })
  }

  depends_on = [aws_api_gateway_account.this, aws_cloudwatch_log_group.api_execution]
}

resource "aws_api_gateway_method_settings" "all" {
  #checkov:skip=CKV_AWS_225:no caching on purpose: reads must see the latest revision (see CKV_AWS_120 on the stage)
  #checkov:skip=CKV_AWS_308:no cache exists to encrypt (caching is off)
  rest_api_id = aws_api_gateway_rest_api.this.id
  stage_name  = aws_api_gateway_stage.this.stage_name
  method_path = "*/*"

  settings {
    metrics_enabled    = true
    logging_level      = "ERROR"
    data_trace_enabled = false
    # Per method: each gets its share of the API-wide limits (edge.tf).
    throttling_rate_limit  = local.api_method_rate_limit
    throttling_burst_limit = local.api_method_burst_limit
    caching_enabled        = false
  }
}

# --- Account settings: the CloudWatch Logs role API Gateway logs with (optional, one per region) -----

data "aws_iam_policy_document" "apigateway_assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "apigateway_logs" {
  count              = var.manage_api_gateway_account ? 1 : 0
  name               = "${local.name}-apigateway-logs"
  description        = "API Gateway writes this API's access and execution logs"
  assume_role_policy = data.aws_iam_policy_document.apigateway_assume_role.json
}

# The account setting serves every REST API of the account in this region (other workspaces' too), and
# API Gateway checks the role against the actions of its managed policy when the setting is made. So
# this role, unlike the functions' roles, is scoped to the region's log groups rather than to exact
# ARNs (written here instead of attaching the AWS-managed policy, whose Resource is "*").
data "aws_iam_policy_document" "apigateway_logs" {
  statement {
    sid = "WriteApiGatewayLogsOfThisRegion"
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:DescribeLogGroups",
      "logs:DescribeLogStreams",
      "logs:FilterLogEvents",
      "logs:GetLogEvents",
      "logs:PutLogEvents",
    ]
    resources = [
      "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*",
      "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*:log-stream:*",
    ]
  }
}

resource "aws_iam_role_policy" "apigateway_logs" {
  count  = var.manage_api_gateway_account ? 1 : 0
  name   = "write-api-logs"
  role   = aws_iam_role.apigateway_logs[0].id
  policy = data.aws_iam_policy_document.apigateway_logs.json
}

resource "aws_api_gateway_account" "this" {
  count               = var.manage_api_gateway_account ? 1 : 0
  cloudwatch_role_arn = aws_iam_role.apigateway_logs[0].arn
  # This workspace owns the setting: destroying it clears the role instead of leaving a dangling ARN.
  # Not on emulators: moto 5.2 answers the reset (a patch without a value) with a 500, forever retried.
  # Provider 5.100 flags the attribute as deprecated (6.x always resets): drop this line on upgrading.
  reset_on_delete = !local.emulated

  depends_on = [aws_iam_role_policy.apigateway_logs]
}
