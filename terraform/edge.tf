# The API's edge: an optional WAF web ACL, custom domain (TLS 1.2+) or private endpoint, API Gateway's own
# answers as problem+json, and the per-method share of the API-wide throttle.

variable "waf_web_acl_arn" {
  type        = string
  description = "A regional WAFv2 web ACL (managed by the security team) associated with the API stage. null: none."
  default     = null

  validation {
    condition     = var.waf_web_acl_arn == null || can(regex("^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:[0-9]{12}:regional/webacl/.+$", var.waf_web_acl_arn))
    error_message = "waf_web_acl_arn must be a regional WAFv2 web ACL ARN."
  }
}

resource "aws_wafv2_web_acl_association" "api" {
  count        = var.waf_web_acl_arn == null ? 0 : 1
  resource_arn = aws_api_gateway_stage.this.arn
  web_acl_arn  = var.waf_web_acl_arn
}

variable "custom_domain" {
  type = object({
    domain_name     = string
    certificate_arn = string
    base_path       = optional(string, "")
  })
  description = "A custom domain for the API (regional, TLS 1.2 or later) with an ACM certificate of the API's region; the stage is mapped at base_path. Point a DNS alias at the regional_domain_name output. null: the execute-api URL only."
  default     = null

  validation {
    condition     = var.custom_domain == null || try(can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$", var.custom_domain.certificate_arn)), false)
    error_message = "custom_domain.certificate_arn must be an ACM certificate ARN."
  }
}

variable "api_private_vpc_endpoint_ids" {
  type        = list(string)
  description = "When not empty the API is PRIVATE: reachable only through these execute-api VPC endpoints (the resource policy denies any other source). Empty: a regional API."
  default     = []

  validation {
    condition     = alltrue([for id in var.api_private_vpc_endpoint_ids : can(regex("^vpce-[0-9a-f]+$", id))])
    error_message = "api_private_vpc_endpoint_ids must hold VPC endpoint ids (vpce-...)."
  }

  validation {
    condition     = length(var.api_private_vpc_endpoint_ids) == 0 || var.custom_domain == null
    error_message = "A private API cannot use the regional custom_domain; leave one of them unset."
  }
}

locals {
  api_private = length(var.api_private_vpc_endpoint_ids) > 0

  # The stage's "*/*" throttle applies to each method on its own, so each gets an equal share: all
  # methods together accept at most api_throttling_rate_limit requests per second (and that burst).
  api_method_count       = length(local.routes_by_key)
  api_method_rate_limit  = floor(100 * var.api_throttling_rate_limit / local.api_method_count) / 100
  api_method_burst_limit = max(1, floor(var.api_throttling_burst_limit / local.api_method_count))

  # API Gateway's own answers (refused signatures, throttling, timeouts...) as problem+json, in the
  # shape and type namespace of the functions' problems (eventstore.http).
  gateway_problems = {
    ACCESS_DENIED                = { status = 403, slug = "access-denied", title = "The caller may not call this" }
    EXPIRED_TOKEN                = { status = 403, slug = "expired-token", title = "The request's credentials have expired" }
    INVALID_SIGNATURE            = { status = 403, slug = "invalid-signature", title = "The request's signature does not match" }
    MISSING_AUTHENTICATION_TOKEN = { status = 403, slug = "missing-authentication", title = "The request is not signed, or names no route" }
    WAF_FILTERED                 = { status = 403, slug = "waf-filtered", title = "The request was blocked by the web ACL" }
    UNAUTHORIZED                 = { status = 401, slug = "unauthorized", title = "The request is not authenticated" }
    THROTTLED                    = { status = 429, slug = "throttled", title = "Too many requests" }
    QUOTA_EXCEEDED               = { status = 429, slug = "quota-exceeded", title = "The request quota is used up" }
    REQUEST_TOO_LARGE            = { status = 413, slug = "payload-too-large", title = "The request is too large" }
    BAD_REQUEST_PARAMETERS       = { status = 400, slug = "invalid-request", title = "The request is invalid" }
    RESOURCE_NOT_FOUND           = { status = 404, slug = "resource-not-found", title = "No such resource" }
    INTEGRATION_TIMEOUT          = { status = 504, slug = "integration-timeout", title = "The store did not answer in time" }
    INTEGRATION_FAILURE          = { status = 502, slug = "integration-failure", title = "The store could not be reached" }
    API_CONFIGURATION_ERROR      = { status = 500, slug = "internal-error", title = "Internal error" }
    # Whatever else API Gateway answers by itself; its status is not available to the template.
    DEFAULT_4XX = { status = null, slug = "gateway-client-error", title = "The request was refused" }
    DEFAULT_5XX = { status = null, slug = "gateway-error", title = "The gateway failed" }
  }
}

resource "aws_api_gateway_gateway_response" "problem" {
  for_each      = local.gateway_problems
  rest_api_id   = aws_api_gateway_rest_api.this.id
  response_type = each.key
  status_code   = each.value.status == null ? null : tostring(each.value.status)

  response_parameters = merge(
    { "gatewayresponse.header.Content-Type" = "'application/problem+json'" },
    each.value.status == 429 ? { "gatewayresponse.header.Retry-After" = "'1'" } : {},
  )

  # $context.error.messageString is the message already quoted as a JSON string.
  response_templates = {
    "application/json" = join("", [
      "{\"type\":\"urn:eventstore:problem:${each.value.slug}\",\"title\":\"${each.value.title}\",",
      each.value.status == null ? "" : "\"status\":${each.value.status},",
      "\"detail\":$context.error.messageString,\"instance\":\"$context.path\"}",
    ])
  }
}

resource "aws_api_gateway_domain_name" "custom" {
  count                    = var.custom_domain == null ? 0 : 1
  domain_name              = var.custom_domain.domain_name
  regional_certificate_arn = var.custom_domain.certificate_arn
  security_policy          = "TLS_1_2"

  endpoint_configuration {
    types = ["REGIONAL"]
  }
}

resource "aws_api_gateway_base_path_mapping" "custom" {
  count       = var.custom_domain == null ? 0 : 1
  api_id      = aws_api_gateway_rest_api.this.id
  stage_name  = aws_api_gateway_stage.this.stage_name
  domain_name = aws_api_gateway_domain_name.custom[0].domain_name
  base_path   = var.custom_domain.base_path == "" ? null : var.custom_domain.base_path
}

output "custom_domain_target" {
  description = "The regional domain name and hosted zone id a DNS alias record for custom_domain points at (null without one)."
  value = var.custom_domain == null ? null : {
    domain_name    = aws_api_gateway_domain_name.custom[0].regional_domain_name
    hosted_zone_id = aws_api_gateway_domain_name.custom[0].regional_zone_id
  }
}
