# cmake/deps.cmake: finds the Debian packages every module uses (scripts/packages/*.txt installs
# them) and builds FAISS's C API once per build tree (scripts/faiss_c_api.sh). Module-specific
# libraries (MuPDF, libxml2, ...) are found in the module's own CMakeLists.txt.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq) # index/pg.c: store.backend = postgres
pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
pkg_check_modules(CJSON REQUIRED IMPORTED_TARGET libcjson)
pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)

set(KBOX_FAISS_C_DIR ${CMAKE_BINARY_DIR}/faiss_c)
execute_process(COMMAND ${PROJECT_SOURCE_DIR}/scripts/faiss_c_api.sh ${KBOX_FAISS_C_DIR}
                RESULT_VARIABLE faiss_rc)
if(NOT faiss_rc EQUAL 0)
  message(FATAL_ERROR "building FAISS's C API failed (scripts/faiss_c_api.sh); see the messages above")
endif()
find_library(FAISS_LIB NAMES libfaiss.a faiss REQUIRED)
find_library(OPENBLAS_LIB NAMES openblas REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
add_library(kb_faiss INTERFACE)
target_link_libraries(kb_faiss INTERFACE ${KBOX_FAISS_C_DIR}/libfaiss_c.a ${FAISS_LIB}
                      ${OPENBLAS_LIB} OpenMP::OpenMP_CXX stdc++ m)
