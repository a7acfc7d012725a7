import sys

from benchmarks.suite import main, reexec_without_forced_openblas_kernel

reexec_without_forced_openblas_kernel(sys.argv[1:])
sys.exit(main(sys.argv[1:]))
