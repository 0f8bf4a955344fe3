#!/bin/sh
# Runs in the container: who and where we are.
echo "hello from an image dock built, pushed, pulled and ran on berth: $(uname -s) pid $$ as $(id -un)"
