package localstore

// Migrations are the store's schema steps, for tests that build an older
// store file by hand.
var Migrations = migrations
