terraform {
  required_version = ">= 1.10.0" # S3 native state locking (use_lockfile) needs 1.10
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60.0, < 7.0.0"
    }
  }
}
