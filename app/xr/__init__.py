"""The headset front end: an OpenXR session that shows the live avatar in a virtual mirror."""
