# packaging/cpack.cmake: `cmake --build build --target package` makes kbox_<version>_amd64.deb:
# /usr/bin/kbox, /etc/kbox/kbox.json (the full config template, a conffile), the hardened unit
# /lib/systemd/system/kbox.service, its generator /lib/systemd/system-generators/kbox-generator
# (limits from the service.* keys), README and ARCHITECTURE in /usr/share/doc/kbox; postinst creates
# the kbox system user and /var/lib/kbox (0700); prerm stops the service; postrm removes the user
# on purge. Package dependencies come from dpkg-shlibdeps.
# Included from the top-level CMakeLists.txt (CPack must be included there). Tests: packaging/test_deb.sh
# (unpacked into a scratch root), packaging/test_deb_install.sh (dpkg -i and purge on a throwaway machine).
install(TARGETS kbox RUNTIME DESTINATION bin)
install(FILES ${PROJECT_SOURCE_DIR}/config/kbox.json DESTINATION /etc/kbox PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/kbox.service DESTINATION /lib/systemd/system)
install(PROGRAMS ${PROJECT_SOURCE_DIR}/packaging/kbox-generator DESTINATION /lib/systemd/system-generators)
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
    "${PROJECT_SOURCE_DIR}/packaging/postinst;${PROJECT_SOURCE_DIR}/packaging/prerm;${PROJECT_SOURCE_DIR}/packaging/postrm;${PROJECT_SOURCE_DIR}/packaging/conffiles")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
include(CPack)

add_test(NAME test_deb COMMAND ${PROJECT_SOURCE_DIR}/packaging/test_deb.sh ${CMAKE_BINARY_DIR})
set_tests_properties(test_deb PROPERTIES LABELS "e2e;slow" TIMEOUT 900 SKIP_RETURN_CODE 77)
# dpkg -i + purge for real: only as root with KBOX_TEST_DEB_INSTALL=1 or CI=true (else exit 77 = skipped)
add_test(NAME test_deb_install COMMAND ${PROJECT_SOURCE_DIR}/packaging/test_deb_install.sh ${CMAKE_BINARY_DIR})
set_tests_properties(test_deb_install PROPERTIES LABELS "e2e;slow" TIMEOUT 900 SKIP_RETURN_CODE 77)
