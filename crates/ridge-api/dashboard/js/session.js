// The API token of this browser tab: kept in sessionStorage only (gone when the tab closes),
// never in a URL, a cookie or localStorage.

const KEY = 'ridge.token';

export function token() {
  return sessionStorage.getItem(KEY);
}

export function setToken(value) {
  sessionStorage.setItem(KEY, value);
}

export function clearToken() {
  sessionStorage.removeItem(KEY);
}
