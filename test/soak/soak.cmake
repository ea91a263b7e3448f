# The chaos soak of the federation operator (test/soak/README.md), short
# version: 3 minutes of load and faults, about 4 to 7 minutes in all.
# Included from test/CMakeLists.txt; run it with `ctest -L soak`.
add_test(NAME soak COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/soak/soak.sh --duration 180)
set_tests_properties(soak PROPERTIES LABELS soak TIMEOUT 900 RESOURCE_LOCK federation
  ENVIRONMENT "BUILD_DIR=${CMAKE_BINARY_DIR}")
# The soak's invariants (test/soak/soak_checks.py) on made-up histories: no cluster.
add_test(NAME soak_checks COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/soak/test_soak_checks.py)
set_tests_properties(soak_checks PROPERTIES LABELS unit)
