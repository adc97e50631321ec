// Command loadkeys writes key-0 .. key-(N-1), each a 128-byte value, to a
// cluster in transactions of 100 puts from 32 goroutines: the data set of
// scripts/restart.sh's measurement.
//
//	go run ./scripts/loadkeys http://127.0.0.1:8001 1000000
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/rsml-go/rsml/client"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: loadkeys URL KEYS")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n < 1 {
		fmt.Fprintln(os.Stderr, "loadkeys: KEYS must be a positive number")
		os.Exit(2)
	}
	c, err := client.New([]string{os.Args[1]})
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadkeys:", err)
		os.Exit(1)
	}
	val := make([]byte, 128)
	for i := range val {
		val[i] = byte('a' + i%26)
	}
	const size, workers = 100, 32
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for lo := range next {
				var t client.Txn
				for k := lo; k < min(lo+size, n); k++ {
					t.Then = append(t.Then, client.PutOp("key-"+strconv.Itoa(k), val))
				}
				// Retried until it lands: a put of the same value twice is harmless.
				for {
					_, err := c.Txn(context.Background(), t)
					if err == nil {
						break
					}
					fmt.Fprintln(os.Stderr, "loadkeys:", err)
					time.Sleep(100 * time.Millisecond)
				}
			}
		})
	}
	for lo := 0; lo < n; lo += size {
		next <- lo
	}
	close(next)
	wg.Wait()
	fmt.Printf("loaded %d keys in %v\n", n, time.Since(start).Round(time.Millisecond))
}
