package s3test

import "syscall"

// sysProcAttr makes the kernel end the server should the test process die
// without running its cleanups, so that no server outlives its tests.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
