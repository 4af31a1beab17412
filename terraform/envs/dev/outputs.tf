output "pushfeed" {
  description = "Names the vendor and the operators need."
  value = {
    vendor_stream_name     = module.pushfeed.vendor_stream_name
    vendor_user_name       = module.pushfeed.vendor_user_name
    data_bucket            = module.pushfeed.data_bucket
    alert_topic_arn        = module.pushfeed.alert_topic_arn
    redshift_copy_role_arn = module.pushfeed.redshift_copy_role_arn
    dashboard_name         = module.pushfeed.dashboard_name
    failure_queues         = module.pushfeed.failure_queues
  }
}
