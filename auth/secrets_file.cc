#include "auth/secrets_file.h"

#include <sys/stat.h>

#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "broker/status_macros.h"

namespace pushbroker {
namespace {

absl::StatusOr<int64_t> FileStamp(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0)
    return absl::NotFoundError(absl::StrCat("cannot stat ", path));
  return static_cast<int64_t>(info.st_mtim.tv_sec) * 1000000000 + info.st_mtim.tv_nsec +
         static_cast<int64_t>(info.st_size) * 7919;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ReadSecretsFile(const std::string& path,
                                                         size_t min_bytes) {
  std::ifstream file(path);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot read the secrets file ", path));
  std::vector<std::string> secrets;
  std::string line;
  for (int number = 1; std::getline(file, line); ++number) {
    const absl::string_view secret = absl::StripAsciiWhitespace(line);
    if (secret.empty() || secret.front() == '#') continue;
    if (secret.size() < min_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, " line ", number, ": a secret needs at least ", min_bytes, " bytes"));
    }
    secrets.emplace_back(secret);
  }
  if (secrets.empty()) return absl::InvalidArgumentError(absl::StrCat(path, " holds no secret"));
  return secrets;
}

absl::StatusOr<std::unique_ptr<SecretsFile>> SecretsFile::Open(std::string path, size_t min_bytes) {
  std::unique_ptr<SecretsFile> file(new SecretsFile(std::move(path), min_bytes));
  RETURN_IF_ERROR(file->Reload());
  return file;
}

SecretsFile::Secrets SecretsFile::current() const {
  absl::MutexLock lock(&mu_);
  return secrets_;
}

absl::Status SecretsFile::Reload() {
  ASSIGN_OR_RETURN(const int64_t stamp, FileStamp(path_));
  ASSIGN_OR_RETURN(std::vector<std::string> secrets, ReadSecretsFile(path_, min_bytes_));
  absl::MutexLock lock(&mu_);
  secrets_ = std::make_shared<const std::vector<std::string>>(std::move(secrets));
  stamp_ = stamp;
  return absl::OkStatus();
}

absl::StatusOr<bool> SecretsFile::ReloadIfChanged() {
  ASSIGN_OR_RETURN(const int64_t stamp, FileStamp(path_));
  {
    absl::MutexLock lock(&mu_);
    if (stamp == stamp_) return false;
  }
  RETURN_IF_ERROR(Reload());
  return true;
}

}  // namespace pushbroker
