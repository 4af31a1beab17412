# terraform init -backend-config=backend.hcl
bucket       = "REPLACE-with-your-terraform-state-bucket"
key          = "pushfeed/dev/terraform.tfstate"
region       = "eu-west-2"
encrypt      = true
use_lockfile = true
