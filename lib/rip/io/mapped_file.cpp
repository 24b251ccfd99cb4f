// SPDX-License-Identifier: LGPL-2.1-or-later
#include "rip/io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "rip/error.h"

namespace rip::io {

std::shared_ptr<const MappedFile> MappedFile::open(const std::string& path) {
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw rip::Error("cannot open the weights file '" + path + "': " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw rip::Error("'" + path + "' is not a regular file; expected a weights file");
  }
  file->size_ = uint64_t(st.st_size);
  if (file->size_ > 0) {
    void* m = ::mmap(nullptr, file->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (m != MAP_FAILED) {
      file->mapping_ = m;
      file->base_ = static_cast<const uint8_t*>(m);
    }
  }
  if (!file->mapping_) {
    try {
      file->owned_.resize(file->size_);
    } catch (const std::bad_alloc&) {
      ::close(fd);
      throw rip::Error("'" + path +
          "' could not be memory-mapped and there is not enough "
          "memory to read its " +
          std::to_string(file->size_) + " bytes");
    }
    uint64_t done = 0;
    while (done < file->size_) {
      const ssize_t n = ::read(fd, file->owned_.data() + done, file->size_ - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int err = errno;
        ::close(fd);
        throw rip::Error("cannot read the weights file '" + path +
            "': " + (n == 0 ? std::string("it shrank while being read") : std::strerror(err)));
      }
      done += uint64_t(n);
    }
    file->base_ = file->owned_.data();
  }
  ::close(fd);  // the mapping stays valid without the descriptor
  return file;
}

std::shared_ptr<const MappedFile> MappedFile::from_bytes(
    std::vector<uint8_t> bytes, const std::string& name) {
  std::shared_ptr<MappedFile> file(new MappedFile());
  file->path_ = name;
  file->owned_ = std::move(bytes);
  file->base_ = file->owned_.data();
  file->size_ = file->owned_.size();
  return file;
}

MappedFile::~MappedFile() {
  if (mapping_) ::munmap(mapping_, size_);
}

}  // namespace rip::io
