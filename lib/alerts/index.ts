/** Alerts: cool-down, store, outbox, channels (see docs/operations-design.md, "Alerts"). */
export { ALERT_SEVERITIES, DEFAULT_COOLDOWN_SECONDS, alertInputSchema, type Alert, type AlertInput, type AlertSeverity, type AlertStatus } from './alert';
export { ackAlert, getAlert, listAlerts, openAlerts, raiseAlert, type AckResult, type ListAlertsFilter, type RaiseAlertOptions, type RaiseAlertResult } from './alert-store';
export { alertChannelNames, alertChannels, alertLink, logChannel, webhookChannel, type AlertChannel, type AlertChannelConfig, type WebhookOptions } from './channels';
export { deliverPendingAlerts, deliveryBacklog, listDeliveries, retryDelaySeconds, type AlertDelivery, type DeliverOptions, type DeliverResult, type DeliveryAttempt, type ListDeliveriesFilter } from './outbox';
export { startAlertDeliveryLoop, type DeliveryLoop, type DeliveryLoopOptions } from './delivery-loop';
export { evidenceSummary, slackMessage, type SlackMessage } from './slack-message';
