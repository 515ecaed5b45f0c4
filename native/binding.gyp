{
  "targets": [
    {
      "target_name": "portwarden_native",
      "sources": ["portwarden_native.c", "bpf_socket_fds.c", "render_json.c", "link_dump.c", "netns.c", "genl_ports.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "libraries": ["-lpthread"]
    }
  ]
}
