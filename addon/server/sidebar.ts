// Opens the sidebar (the bundled Sidebar.html). Owns HtmlService; the page's behaviour lives in addon/sidebar.
import { showSidebarHtml } from './sheet-io';

/** The sidebar's views; `settings` opens straight on the connection form. */
export type SidebarView = 'compose' | 'settings';

/** Shows the sidebar, telling the page which view to open first. */
export function openSidebar(view: SidebarView): void {
  const html = HtmlService.createHtmlOutputFromFile('Sidebar').setTitle('WhatsApp campaigns');
  // A small inline script rather than a template scriptlet: the bundled page's JS may contain `<?` sequences.
  html.append(`<script>window.__initialView=${JSON.stringify(view)};</script>`);
  showSidebarHtml(html);
}
