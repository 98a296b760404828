package watch

// Alert is alert, for the golden files of the alerts.
var Alert = alert
