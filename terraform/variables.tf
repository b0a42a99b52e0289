# Inputs. Per-workspace values live in env/<workspace>.tfvars (`make plan WORKSPACE=<name>` passes it).

# --- Where -------------------------------------------------------------------------------------------

variable "region" {
  type        = string
  description = "AWS region to deploy to. null takes it from the environment (AWS_REGION) or the profile."
  default     = null

  validation {
    condition     = var.region == null || can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must look like eu-west-1 (or be null)."
  }
}

variable "aws_endpoint_url" {
  type        = string
  description = "An AWS emulator's endpoint (moto, LocalStack), e.g. http://127.0.0.1:4566. Empty targets real AWS."
  default     = ""

  validation {
    condition     = var.aws_endpoint_url == "" || can(regex("^https?://[^/]+/?$", var.aws_endpoint_url))
    error_message = "aws_endpoint_url must be empty or an http(s) URL without a path."
  }
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for every resource (Project and Workspace are always set)."
  default     = {}
}

# --- Build artifacts and Lambda ----------------------------------------------------------------------

variable "build_dir" {
  type        = string
  description = "Folder holding `make build`'s output (functions/<name>.zip, layer.zip). null is the repository's build/."
  default     = null
}

variable "lambda_runtime" {
  type        = string
  description = "Lambda runtime of every function and of the layer; must match `make build`'s Python version."
  default     = "python3.13"

  validation {
    condition     = can(regex("^python3\\.[0-9]+$", var.lambda_runtime))
    error_message = "lambda_runtime must be a Python runtime such as python3.13."
  }
}

variable "lambda_architecture" {
  type        = string
  description = "Instruction set of the functions; must match `make build ARCH=...` (the layer's wheels)."
  default     = "arm64"

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be arm64 or x86_64."
  }
}

variable "lambda_memory_mb" {
  type        = number
  description = "Memory (and so CPU) of the API functions, in MB."
  default     = 512

  validation {
    condition     = var.lambda_memory_mb >= 128 && var.lambda_memory_mb <= 10240
    error_message = "lambda_memory_mb must be between 128 and 10240."
  }
}

variable "lambda_timeout_seconds" {
  type        = number
  description = "Timeout of the API functions. API Gateway gives up after 29 s, so more is pointless."
  default     = 10

  validation {
    condition     = var.lambda_timeout_seconds >= 1 && var.lambda_timeout_seconds <= 29
    error_message = "lambda_timeout_seconds must be between 1 and 29."
  }
}

variable "notify_timeout_seconds" {
  type        = number
  description = "Timeout of notify_stream (one batch of stream records)."
  default     = 60

  validation {
    condition     = var.notify_timeout_seconds >= 1 && var.notify_timeout_seconds <= 900
    error_message = "notify_timeout_seconds must be between 1 and 900."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Retention of the functions' and the API's log groups."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

variable "listing_settle_seconds" {
  type        = number
  description = "EVENTSTORE_LISTING_SETTLE_SECONDS: how long fresh listing entries wait for the GSI to settle; writers and notify_stream give a commit that landed later than half of it a fresh listing entry."
  default     = 1

  validation {
    condition     = var.listing_settle_seconds >= 0 && var.listing_settle_seconds <= 60
    error_message = "listing_settle_seconds must be between 0 and 60."
  }
}

variable "stream_type_retention" {
  type = map(object({
    max_count       = optional(number)
    max_age_seconds = optional(number)
  }))
  description = "Per stream type defaults of the lifecycle bounds (EVENTSTORE_RETENTION_DEFAULTS): keep a type's newest max_count events and those younger than max_age_seconds visible; a stream's own metadata overrides them. Events outside are invisible at once and removed later. {} (the default): keep everything."
  default     = {}

  validation {
    condition = alltrue([
      for stream_type, bounds in var.stream_type_retention :
      can(regex("^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$", stream_type))
      && (bounds.max_count == null || try(bounds.max_count >= 1 && floor(bounds.max_count) == bounds.max_count, false))
      && (bounds.max_age_seconds == null || try(bounds.max_age_seconds >= 1 && floor(bounds.max_age_seconds) == bounds.max_age_seconds, false))
    ])
    error_message = "stream_type_retention: keys are stream type names; max_count and max_age_seconds are whole numbers of at least 1 (or left out)."
  }
}

variable "snap_start" {
  type        = bool
  description = "Lambda SnapStart on every function: a cold start restores a snapshot of the published version's init instead of running it (docs/design.md, \"SnapStart\"). Not applied on emulators."
  default     = false
}

variable "functions_aws_endpoint_url" {
  type        = string
  description = "AWS_ENDPOINT_URL given to the functions when they run inside an emulator. Empty (the default, and always on AWS) sets nothing."
  default     = ""
}

# --- Table -------------------------------------------------------------------------------------------

variable "table_billing_mode" {
  type        = string
  description = "PAY_PER_REQUEST (on demand) or PROVISIONED."
  default     = "PAY_PER_REQUEST"

  validation {
    condition     = contains(["PAY_PER_REQUEST", "PROVISIONED"], var.table_billing_mode)
    error_message = "table_billing_mode must be PAY_PER_REQUEST or PROVISIONED."
  }
}

variable "table_read_capacity" {
  type        = number
  description = "Read capacity units of the table and of its index (PROVISIONED only)."
  default     = 5

  validation {
    condition     = var.table_read_capacity >= 1
    error_message = "table_read_capacity must be at least 1."
  }
}

variable "table_write_capacity" {
  type        = number
  description = "Write capacity units of the table and of its index (PROVISIONED only)."
  default     = 5

  validation {
    condition     = var.table_write_capacity >= 1
    error_message = "table_write_capacity must be at least 1."
  }
}

variable "table_kms_key_arn" {
  type        = string
  description = "A customer-managed KMS key for the table's encryption at rest. null uses the AWS-managed key (aws/dynamodb)."
  default     = null
}

variable "deletion_protection" {
  type        = bool
  description = "Deletion protection of the table. Keep it on for anything holding real data; off only for throwaway workspaces."
  default     = true
}

variable "kms_deletion_window_days" {
  type        = number
  description = "Waiting period before a destroyed KMS key is deleted."
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

# --- Notifications -----------------------------------------------------------------------------------

variable "create_event_source_mapping" {
  type        = bool
  description = <<-EOT
    Create the DynamoDB stream -> notify_stream mapping. Turn it off only on an emulator whose Lambda
    cannot run (moto without Docker): there a mapping makes every table write try to invoke the function
    and drains the stream buffer the local runtime reads notifications from.
  EOT
  default     = true
}

variable "notify_batch_size" {
  type        = number
  description = "Most stream records per notify_stream invocation."
  default     = 100

  validation {
    condition     = var.notify_batch_size >= 1 && var.notify_batch_size <= 10000
    error_message = "notify_batch_size must be between 1 and 10000."
  }
}

variable "notify_batching_window_seconds" {
  type        = number
  description = "How long the mapping gathers records before invoking (0 = as soon as there are any)."
  default     = 0

  validation {
    condition     = var.notify_batching_window_seconds >= 0 && var.notify_batching_window_seconds <= 300
    error_message = "notify_batching_window_seconds must be between 0 and 300."
  }
}

variable "notify_maximum_retry_attempts" {
  type        = number
  description = "Retries of a failing batch before its records go to the on-failure queue (-1 = until they expire)."
  default     = 10

  validation {
    condition     = var.notify_maximum_retry_attempts >= -1 && var.notify_maximum_retry_attempts <= 10000
    error_message = "notify_maximum_retry_attempts must be between -1 and 10000."
  }
}

variable "notify_maximum_record_age_seconds" {
  type        = number
  description = "Records older than this go to the on-failure queue instead of being retried (-1 = until they expire, 24 h)."
  default     = 3600

  validation {
    condition     = var.notify_maximum_record_age_seconds == -1 || (var.notify_maximum_record_age_seconds >= 60 && var.notify_maximum_record_age_seconds <= 604800)
    error_message = "notify_maximum_record_age_seconds must be -1 or between 60 and 604800."
  }
}

variable "topic_fifo" {
  type        = bool
  description = "A FIFO notification topic (strict per-stream order for FIFO subscribers; the function sets group and deduplication ids)."
  default     = false
}

variable "subscriber_stream_types" {
  type        = list(string)
  description = "Stream types the example subscriber queue receives (a filter policy on the StreamType attribute). Empty: all."
  default     = []
}

# --- API ---------------------------------------------------------------------------------------------

variable "api_stage_name" {
  type        = string
  description = "Name of the API stage (the first path segment of the URL)."
  default     = "v1"

  validation {
    condition     = can(regex("^[A-Za-z0-9_]{1,64}$", var.api_stage_name))
    error_message = "api_stage_name must be 1-64 letters, digits or underscores."
  }
}

variable "api_throttling_rate_limit" {
  type        = number
  description = "Steady-state requests per second the API accepts, all methods together (each method gets an equal share)."
  default     = 100

  validation {
    condition     = var.api_throttling_rate_limit > 0
    error_message = "api_throttling_rate_limit must be positive."
  }
}

variable "api_throttling_burst_limit" {
  type        = number
  description = "Burst of requests the API accepts above the rate limit, all methods together (each method gets an equal share)."
  default     = 200

  validation {
    condition     = var.api_throttling_burst_limit >= 0
    error_message = "api_throttling_burst_limit must not be negative."
  }
}

variable "api_resource_policy_account_ids" {
  type        = list(string)
  description = <<-EOT
    When not empty, a resource policy lets only principals of these accounts invoke the API (on top of
    the per-caller IAM policies). Leave empty on emulators: moto cannot read an API back once it has one.
  EOT
  default     = []

  validation {
    condition     = alltrue([for id in var.api_resource_policy_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "api_resource_policy_account_ids must hold 12-digit account ids."
  }
}

variable "manage_api_gateway_account" {
  type        = bool
  description = <<-EOT
    Set the region's API Gateway account settings (the CloudWatch Logs role that access logging needs).
    It is one setting per account and region: let exactly one workspace per account and region own it.
  EOT
  default     = false
}

# --- Operators and callers ---------------------------------------------------------------------------

variable "alarm_email" {
  type        = string
  description = "An e-mail address subscribed to the alarm topic (it must confirm the subscription). Empty: none."
  default     = ""

  validation {
    condition     = var.alarm_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be empty or an e-mail address."
  }
}

variable "alarm_api_5xx_percent" {
  type        = number
  description = "Alarm when more than this percentage of API requests answer 5xx (in M of N minutes, see alarm_datapoints_to_alarm)."
  default     = 1

  validation {
    condition     = var.alarm_api_5xx_percent > 0 && var.alarm_api_5xx_percent <= 100
    error_message = "alarm_api_5xx_percent must be in (0, 100]."
  }
}

variable "alarm_iterator_age_ms" {
  type        = number
  description = "Alarm when notify_stream lags the table by more than this (stream iterator age, ms)."
  default     = 60000

  validation {
    condition     = var.alarm_iterator_age_ms > 0
    error_message = "alarm_iterator_age_ms must be positive."
  }
}

variable "alarm_feed_lag_ms" {
  type        = number
  description = "Alarm when the p99 time from an append to its events being readable in the feeds exceeds this (ms)."
  default     = 30000

  validation {
    condition     = var.alarm_feed_lag_ms > 0
    error_message = "alarm_feed_lag_ms must be positive."
  }
}

variable "example_writer_stream_type" {
  type        = string
  description = "The stream type in the example_writer_policy_json output (a caller that may write only that type)."
  default     = "orders"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$", var.example_writer_stream_type))
    error_message = "example_writer_stream_type must be a stream type as the API accepts it (openapi.yaml TypeName)."
  }
}

variable "keys_table_point_in_time_recovery" {
  type        = bool
  description = "Point-in-time recovery of the data-subject keys table. Off by default: restoring it would bring erased keys back, undoing erasures (docs/design.md, Erasure). Turn it on only with a procedure that erases again, after any restore, every subject erased since the restore point."
  default     = false
}

# --- Data lifecycle (removal.tf, archive.tf) -----------------------------------------------------------

variable "removal_schedule" {
  type        = string
  description = "EventBridge schedule of remove_expired. Removal happens within 24 h of events becoming invisible when runs are at most a day apart and each finishes its work (see removal_timeout_seconds)."
  default     = "rate(1 hour)"

  validation {
    condition     = can(regex("^(rate\\((1 (minute|hour|day)|[0-9]+ (minutes|hours))\\)|cron\\(.+\\))$", var.removal_schedule))
    error_message = "removal_schedule must be rate(N minutes|hours), rate(1 day) or cron(...): at most a day apart."
  }
}

variable "removal_timeout_seconds" {
  type        = number
  description = "remove_expired's timeout; a run stops at 5,000 commits and the next run goes on."
  default     = 300

  validation {
    condition     = var.removal_timeout_seconds >= 30 && var.removal_timeout_seconds <= 900
    error_message = "removal_timeout_seconds must be between 30 and 900."
  }
}

variable "archive_enabled" {
  type        = bool
  description = "Archive events to an S3 bucket (SSE-KMS, versioned, private, TLS only) before removing them; `eventstore archive read` reads them back."
  default     = false
}

variable "archive_storage_class" {
  type        = string
  description = "The cheaper class archive objects move to after archive_transition_days."
  default     = "GLACIER_IR"

  validation {
    condition     = contains(["STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"], var.archive_storage_class)
    error_message = "archive_storage_class must be STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, GLACIER or DEEP_ARCHIVE."
  }
}

variable "archive_transition_days" {
  type        = number
  description = "Days after which archive objects move to archive_storage_class (S3 requires at least 30 for the IA classes)."
  default     = 30

  validation {
    condition     = var.archive_transition_days >= 0 && floor(var.archive_transition_days) == var.archive_transition_days
    error_message = "archive_transition_days must be a whole number of days, 0 or more."
  }
}

variable "archive_noncurrent_days" {
  type        = number
  description = "Days older versions of archive objects (earlier manifests) are kept."
  default     = 365

  validation {
    condition     = var.archive_noncurrent_days >= 1
    error_message = "archive_noncurrent_days must be at least 1."
  }
}

