"""The reliability suite: the real daemon on real dockerd, under kills, restarts, lost events,
an engine restart and a full data directory. Each case states what it must show."""
