// Package zzdeps pins dependencies while the first packages are written in parallel; removed at integration.
package zzdeps

import (
	_ "github.com/coder/websocket"
	_ "github.com/eclipse/paho.mqtt.golang"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/spf13/cobra"
	_ "modernc.org/sqlite"
)
