//go:build !linux

package broker

import "syscall"

const canWaitReadable = false

func waitReadable(syscall.RawConn) error { panic("broker: waitReadable without Linux") }
