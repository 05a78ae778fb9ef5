# embed.cmake: writes OUT, a C file holding every SRC_DIR/*.lua as a string:
#   const acs_lualib_file acs_lualib[] = {{"acs", "...text..."}, ..., {NULL, NULL}};
# (cmake -P; the build runs it when a lua/*.lua file changes)
file(GLOB files ${SRC_DIR}/*.lua)
list(SORT files)
set(body "/* generated from the lua/ folder by engine/script/embed.cmake: do not edit */\n")
string(APPEND body "#include <stddef.h>\n\ntypedef struct acs_lualib_file {\n  const char *name;\n  const char *text;\n} acs_lualib_file;\n\n")
string(APPEND body "extern const acs_lualib_file acs_lualib[];\nconst acs_lualib_file acs_lualib[] = {\n")
foreach(f ${files})
  get_filename_component(name ${f} NAME_WE)
  file(READ ${f} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" esc "${hex}")
  # split into lines of literal chunks so that no line is huge
  string(REGEX REPLACE "((\\\\x[0-9a-f][0-9a-f]){40})" "\\1\"\n    \"" esc "${esc}")
  string(APPEND body "    {\"${name}\",\n    \"${esc}\"},\n")
endforeach()
string(APPEND body "    {NULL, NULL},\n};\n")
file(WRITE ${OUT}.tmp "${body}")
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUT}.tmp ${OUT})
