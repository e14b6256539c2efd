// A static Go program (CGO_ENABLED=0) exercising what Go's runtime needs of the kernel:
// threads (clone), futexes, signals for preemption and signal.Notify, the netpoller
// (epoll with a pipe to wake it) behind timers and tickers, address-space reservations,
// files, and os/exec of itself. Output is deterministic: the same natively and in hull.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		fmt.Println("child says hi")
		os.Exit(3)
	}

	// Goroutines on several threads, a mutex and a WaitGroup.
	runtime.GOMAXPROCS(4)
	var mu sync.Mutex
	total := 0
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			mu.Lock()
			total += i
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	fmt.Println("total", total)

	// Channels between goroutines.
	ch := make(chan int)
	done := make(chan int)
	go func() {
		s := 0
		for v := range ch {
			s += v
		}
		done <- s
	}()
	for i := 1; i <= 1000; i++ {
		ch <- i
	}
	close(ch)
	fmt.Println("channel sum", <-done)

	// Timers and a ticker (the netpoller's timeouts).
	start := time.Now()
	time.Sleep(20 * time.Millisecond)
	fmt.Println("slept at least 20ms:", time.Since(start) >= 20*time.Millisecond)
	t := time.NewTicker(5 * time.Millisecond)
	n := 0
	for range t.C {
		n++
		if n == 5 {
			break
		}
	}
	t.Stop()
	fmt.Println("ticks", n)
	select {
	case <-time.After(10 * time.Millisecond):
		fmt.Println("time.After fired")
	case <-make(chan int):
	}

	// A CPU-bound goroutine does not starve the others (asynchronous preemption).
	stop := make(chan struct{})
	go func() {
		x := 0
		for {
			select {
			case <-stop:
				return
			default:
				x++
			}
		}
	}()
	time.Sleep(5 * time.Millisecond)
	close(stop)
	fmt.Println("preemption ok")

	// Files.
	p := fmt.Sprintf("%s/hull-go-%d.txt", os.TempDir(), os.Getpid())
	if err := os.WriteFile(p, []byte("data\n"), 0o644); err != nil {
		fmt.Println("write:", err)
	}
	b, err := os.ReadFile(p)
	fmt.Printf("read %q %v\n", b, err)
	os.Remove(p)
	_, err = os.Stat(p)
	fmt.Println("removed:", os.IsNotExist(err))

	// A child process: itself.
	exe, _ := os.Executable()
	out, err := exec.Command(exe, "child").Output()
	fmt.Printf("child %q %v\n", strings.TrimSpace(string(out)), err)

	// A pipe to a child's stdin.
	cmd := exec.Command(exe, "child")
	cmd.Stdin = strings.NewReader("ignored")
	err = cmd.Run()
	fmt.Println("child with stdin:", err)

	// A signal to itself, through signal.Notify.
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	select {
	case s := <-c:
		fmt.Println("got", s)
	case <-time.After(5 * time.Second):
		fmt.Println("no signal")
	}
}
