variable "aws_account_id" {
  description = "The AWS account this environment lives in; Terraform refuses credentials of any other."
  type        = string
  validation {
    condition     = can(regex("^[0-9]{12}$", var.aws_account_id))
    error_message = "aws_account_id: the 12-digit account id."
  }
}

variable "region" {
  description = "AWS region of the prod environment."
  type        = string
  default     = "eu-west-2"
}

variable "redshift_workgroup_name" {
  description = "Redshift Serverless workgroup the prod tables live in."
  type        = string
}

variable "redshift_database" {
  description = "Database of the pushfeed tables."
  type        = string
  default     = "dev"
}

variable "alert_emails" {
  description = "Who gets the prod alerts."
  type        = list(string)
  default     = []
}
