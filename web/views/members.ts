/**
 * Sharing: the owner sees the image's members with their status, adds projects and removes them;
 * a project the image is shared with accepts or rejects it.
 */
import type { Image, Member, MemberStatus } from '../../src/sdk/types.js';
import { app, describeError, errorSlot, myProject, showError } from '../app.js';
import { badge, busy, field, h } from '../dom.js';
import { formatDate } from '../format.js';

export async function membersSection(image: Image, signal: AbortSignal): Promise<HTMLElement> {
  const section = h('section', { class: 'card members', 'aria-labelledby': 'members-title' }, h('h2', { id: 'members-title' }, 'Sharing'));
  const me = myProject();
  if (image.owner && image.owner === me) await ownerView(section, image, signal);
  else await memberView(section, image, me);
  return section;
}

async function ownerView(section: HTMLElement, image: Image, signal: AbortSignal): Promise<void> {
  const alert = errorSlot();
  const list = h('div', {});
  const load = async () => {
    let members: Member[];
    try {
      members = await app.client.members.list(image.id);
    } catch (err) {
      list.replaceChildren(h('p', { class: 'muted' }, `Members not shown: ${describeError(err)}`));
      return;
    }
    if (signal.aborted) return;
    if (members.length === 0) {
      list.replaceChildren(h('p', { class: 'muted' }, 'Not shared with any project.'));
      return;
    }
    list.replaceChildren(
      h(
        'table',
        { class: 'responsive compact' },
        h('thead', {}, h('tr', {}, ['Project', 'Status', 'Updated', ''].map((c) => h('th', { scope: 'col' }, c)))),
        h(
          'tbody',
          {},
          members.map((m) =>
            h(
              'tr',
              {},
              h('td', { 'data-label': 'Project', class: 'member-id' }, m.member_id),
              h('td', { 'data-label': 'Status' }, badge(m.status)),
              h('td', { 'data-label': 'Updated' }, formatDate(m.updated_at)),
              h(
                'td',
                {},
                h(
                  'button',
                  {
                    type: 'button',
                    class: 'danger small',
                    'aria-label': `Remove ${m.member_id}`,
                    onclick: (e: Event) =>
                      void busy(e.currentTarget as HTMLElement, async () => {
                        showError(alert, null);
                        try {
                          await app.client.members.remove(image.id, m.member_id);
                          await load();
                        } catch (err) {
                          showError(alert, err);
                        }
                      }),
                  },
                  'Remove',
                ),
              ),
            ),
          ),
        ),
      ),
    );
  };
  await load();
  section.append(list);
  if (image.visibility !== 'shared') {
    section.append(h('p', { class: 'muted' }, `Only images whose visibility is “shared” can be shared with projects; this one is ${image.visibility}. `, h('a', { href: `#/images/${encodeURIComponent(image.id)}/edit` }, 'Edit it'), ' to change that.'));
    return;
  }
  const input = h('input', { name: 'member', required: true, placeholder: 'project id', autocomplete: 'off' });
  const form = h('form', { class: 'inline-form' }, field('Share with project', input), h('button', { type: 'submit' }, 'Share'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const member = input.value.trim();
    if (!member) return showError(alert, 'Give the id of the project to share with.');
    void busy(form, async () => {
      showError(alert, null);
      try {
        await app.client.members.add(image.id, member);
        input.value = '';
        await load();
      } catch (err) {
        showError(alert, err);
      }
    });
  });
  section.append(form, alert);
}

async function memberView(section: HTMLElement, image: Image, me: string | null): Promise<void> {
  if (!me || image.visibility !== 'shared') {
    section.append(h('p', { class: 'muted' }, image.visibility === 'public' || image.visibility === 'community' ? `A ${image.visibility} image: everyone can use it.` : 'Owned by another project.'));
    return;
  }
  let mine: Member;
  try {
    mine = await app.client.members.get(image.id, me);
  } catch (err) {
    section.append(h('p', { class: 'muted' }, `Your project's membership is not shown: ${describeError(err)}`));
    return;
  }
  const alert = errorSlot();
  const status = h('span', {}, badge(mine.status));
  const set = (to: MemberStatus, text: string) =>
    h(
      'button',
      {
        type: 'button',
        class: to === 'accepted' ? 'primary' : '',
        onclick: (e: Event) =>
          void busy((e.currentTarget as HTMLElement).parentElement!, async () => {
            showError(alert, null);
            try {
              mine = await app.client.members.setStatus(image.id, me, to);
              status.replaceChildren(badge(mine.status));
            } catch (err) {
              showError(alert, err);
            }
          }),
      },
      text,
    );
  section.append(
    h('p', {}, `Project ${image.owner ?? '?'} shares this image with your project. Its status for you: `, status),
    h('p', { class: 'muted' }, 'Accepted images appear in your image list; rejected or pending ones only when asked for by member status.'),
    h('div', { class: 'toolbar' }, set('accepted', 'Accept'), set('rejected', 'Reject'), set('pending', 'Leave pending')),
    alert,
  );
}
