/*
 * QEMU 7.2's XBZRLE encoder and decoder (migration/xbzrle.c, compiled as QEMU builds it) on the pages that
 * livemig's XbzrleBenchmark uses: 4 KiB of random bytes, CHANGED percent of them changed in runs of 1 to 8
 * bytes at random places, 256 page pairs in rotation. Prints one JSON line per case and operation.
 * Usage: bench PERCENT...
 */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include "xbzrle.h"

#define PAGE 4096
#define PAGES 256

static uint64_t state = 7;

static uint64_t next(void)
{
    /* splitmix64 */
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static uint8_t old_pages[PAGES][PAGE] __attribute__((aligned(64)));
static uint8_t cur_pages[PAGES][PAGE] __attribute__((aligned(64)));
static uint8_t deltas[PAGES][PAGE];
static int lengths[PAGES];
static uint8_t targets[PAGES][PAGE] __attribute__((aligned(64)));
static uint8_t dst[PAGE];

int main(int argc, char **argv)
{
    for (int a = 1; a < argc; a++) {
        int percent = atoi(argv[a]);
        for (int p = 0; p < PAGES; p++) {
            for (int i = 0; i < PAGE; i++) {
                old_pages[p][i] = (uint8_t)next();
            }
            memcpy(cur_pages[p], old_pages[p], PAGE);
            int to_change = PAGE * percent / 100;
            for (int changed = 0; changed < to_change;) {
                int at = (int)(next() % PAGE);
                int len = 1 + (int)(next() % 8);
                for (int i = at; i < PAGE && i < at + len && changed < to_change; i++, changed++) {
                    cur_pages[p][i] = (uint8_t)(old_pages[p][i] + 1 + next() % 255);
                }
            }
            lengths[p] = xbzrle_encode_buffer(old_pages[p], cur_pages[p], PAGE, deltas[p], PAGE);
            memcpy(targets[p], old_pages[p], PAGE);
        }
        for (int op = 0; op < 2; op++) {
            long sink = 0;
            double best = 0;
            for (int round = 0; round < 8; round++) { /* 3 warm-up rounds, then the best of 5 */
                long n = 0;
                double start = seconds(), now;
                do {
                    for (int k = 0; k < 4096; k++, n++) {
                        int p = (int)(n & (PAGES - 1));
                        if (op == 0) {
                            sink += xbzrle_encode_buffer(old_pages[p], cur_pages[p], PAGE, dst, PAGE);
                        } else if (lengths[p] > 0) {
                            sink += xbzrle_decode_buffer(deltas[p], lengths[p], targets[p], PAGE);
                        }
                    }
                    now = seconds();
                } while (now - start < 1.0);
                double mbs = n * (double)PAGE / (now - start) / 1e6;
                if (round >= 3 && mbs > best) {
                    best = mbs;
                }
            }
            printf("{\"tool\": \"qemu-7.2-xbzrle.c\", \"op\": \"%s\", \"changed_percent\": %d, \"mb_per_s\": %.0f, \"sink\": %ld}\n",
                   op == 0 ? "encode" : "decode", percent, best, sink);
        }
    }
    return 0;
}
