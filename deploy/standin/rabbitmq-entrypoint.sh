#!/bin/sh
# Debian's rabbitmq-server as the rabbitmq user, with the official image's HOME (the Erlang cookie
# that rabbitmq-diagnostics reads for the healthcheck lives there). RabbitMQ 3.10 reads
# /etc/rabbitmq/conf.d/ itself.
set -eu
if [ "${1:-rabbitmq-server}" != rabbitmq-server ]; then exec "$@"; fi
chown -R rabbitmq:rabbitmq /var/lib/rabbitmq /var/log/rabbitmq
export HOME=/var/lib/rabbitmq
exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups /usr/lib/rabbitmq/bin/rabbitmq-server
