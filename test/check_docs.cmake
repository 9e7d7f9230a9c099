# Fails when the committed reference in docs/generated differs from what the build
# generates from the ODS (fix: bash scripts/update-docs.sh).
string(REPLACE "," ";" DOCS "${DOCS}")
foreach(doc IN LISTS DOCS)
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${GENERATED}/${doc}.md
                          ${COMMITTED}/${doc}.md RESULT_VARIABLE different)
  if(different)
    message(FATAL_ERROR "docs/generated/${doc}.md is stale: run bash scripts/update-docs.sh")
  endif()
endforeach()
message(STATUS "docs/generated is up to date")
