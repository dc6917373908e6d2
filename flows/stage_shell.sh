#!/bin/sh
# The shell DVC runs each stage command with (`$SHELL -c CMD`, dvc/stage/run.py), set by
# flows/dvc_stages.py: it runs the command with /bin/sh and appends its exit status to
# $EXPLORER_STAGE_EXIT_FILE, which is how the flow learns the status as a number (DVC itself
# reports it only inside an English error message).
/bin/sh "$@"
status=$?
if [ -n "$EXPLORER_STAGE_EXIT_FILE" ]; then echo "$status" >> "$EXPLORER_STAGE_EXIT_FILE"; fi
exit $status
