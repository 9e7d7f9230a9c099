/* The CPU's memory read bandwidth, the ceiling of CPU-placed steps (docs/slicing.md):
   every core sums its part of a 4 GiB buffer (vectorised by the compiler), best of 5.

     cc -O3 -march=native -fopenmp bench/cpu_read_bandwidth.c -o cpu_read_bandwidth
     ./cpu_read_bandwidth [GiB]        prints GB/s */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  size_t gib = argc > 1 ? (size_t)atol(argv[1]) : 4;
  size_t n = gib << 27; /* 64-bit words */
  uint64_t *data = malloc(n * sizeof *data);
  if (!data) {
    fprintf(stderr, "cannot allocate %zu GiB\n", gib);
    return 1;
  }
#pragma omp parallel for
  for (size_t i = 0; i < n; ++i) /* first touch by the thread that reads it later */
    data[i] = i;
  double best = 0;
  uint64_t check = 0;
  for (int rep = 0; rep < 5; ++rep) {
    double start = omp_get_wtime();
    uint64_t sum = 0;
#pragma omp parallel for reduction(+ : sum)
    for (size_t i = 0; i < n; ++i)
      sum += data[i];
    double gbps = (double)(n * sizeof *data) / (omp_get_wtime() - start) / 1e9;
    if (gbps > best)
      best = gbps;
    check += sum;
  }
  printf("%.1f\n", best);
  fprintf(stderr, "%d threads, checksum %llu\n", omp_get_max_threads(), (unsigned long long)check);
  free(data);
  return 0;
}
