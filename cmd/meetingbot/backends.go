package main

// The store backends this build has: store.Open picks one from MEETINGBOT_DB.
import (
	_ "github.com/meetingbot/meetingbot/store/postgres" // postgres:// and postgresql:// URLs
	_ "github.com/meetingbot/meetingbot/store/sqlite"   // a file path
)
