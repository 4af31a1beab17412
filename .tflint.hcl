# tflint (the GitHub workflow's terraform job): the bundled Terraform rules, recommended
# preset — unused declarations, missing versions and types, deprecated syntax.
config {
  call_module_type = "local"
}

plugin "terraform" {
  enabled = true
  preset  = "recommended"
}
