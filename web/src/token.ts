/**
 * The bearer token: `portwarden serve` prints `http://127.0.0.1:PORT/#token=TOKEN`. The fragment
 * never reaches a server or a Referer; the page moves it into sessionStorage (gone with the tab)
 * and out of the address bar and history at once.
 */
const STORAGE_KEY = 'portwarden.token'

export function adoptTokenFromUrl(): void {
  const fragment = new URLSearchParams(location.hash.slice(1))
  const token = fragment.get('token')
  if (token === null) return
  if (token !== '') sessionStorage.setItem(STORAGE_KEY, token)
  fragment.delete('token')
  const rest = fragment.toString()
  history.replaceState(
    history.state,
    '',
    `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`,
  )
}

export function currentToken(): string | null {
  return sessionStorage.getItem(STORAGE_KEY)
}

export const TOKEN_NEEDED =
  'This needs the token link that `portwarden serve` printed when it started ' +
  '(dashboard: http://127.0.0.1:PORT/#token=…). Open that link to act from this page.'
