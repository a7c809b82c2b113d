# packaging/cpack.cmake: `cmake --build build --target package` makes kbox_<version>_amd64.deb:
# /usr/bin/kbox, /etc/kbox/kbox.json (the full config template, a conffile), the hardened unit
# /lib/systemd/system/kbox.service, README and ARCHITECTURE in /usr/share/doc/kbox; postinst creates
# the kbox system user and /var/lib/kbox (0700). Package dependencies come from dpkg-shlibdeps.
# Included from the top-level CMakeLists.txt (CPack must be included there). Test: packaging/test_deb.sh.
install(TARGETS kbox RUNTIME DESTINATION bin)
install(FILES ${PROJECT_SOURCE_DIR}/config/kbox.json DESTINATION /etc/kbox PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/kbox.service DESTINATION /lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/ARCHITECTURE.md DESTINATION share/doc/kbox)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME kbox)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_CONTACT "kbox maintainers <kbox@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "knowledge base appliance: documents in, cited answers out")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION web)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${PROJECT_SOURCE_DIR}/packaging/postinst;${PROJECT_SOURCE_DIR}/packaging/postrm;${PROJECT_SOURCE_DIR}/packaging/conffiles")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
include(CPack)

add_test(NAME test_deb COMMAND ${PROJECT_SOURCE_DIR}/packaging/test_deb.sh ${CMAKE_BINARY_DIR})
set_tests_properties(test_deb PROPERTIES LABELS "e2e;slow" TIMEOUT 900)
