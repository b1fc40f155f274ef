; Inno Setup script: the Windows installer for the PyInstaller bundle (dist\netmem).
;
;     iscc /DAppVersion=0.1.0 /DBundleDir=C:\path\to\dist\netmem /DOutputDir=C:\path\to\dist packaging\windows\netmem.iss
;
; Installs per user by default (no administrator rights needed; the user may choose all users), with a Start menu
; entry for netmem-gui and an uninstaller. The console tool netmem.exe is installed beside it.

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#ifndef BundleDir
  #define BundleDir "..\..\dist\netmem"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\dist"
#endif

[Setup]
; Never change AppId: Windows knows the installed app (upgrades, uninstall) by it.
AppId={{D5461D6B-F258-45CF-8AD5-C9AEA71DFAFF}
AppName=netmem
AppVersion={#AppVersion}
AppVerName=netmem {#AppVersion}
AppPublisher=The netmem developers
DefaultDirName={autopf}\netmem
DefaultGroupName=netmem
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#OutputDir}
OutputBaseFilename=netmem-{#AppVersion}-windows-x64-setup
SetupIconFile=..\..\resources\netmem.ico
UninstallDisplayIcon={app}\netmem-gui.exe
UninstallDisplayName=netmem {#AppVersion}
Compression=lzma2
SolidCompression=yes
WizardStyle=modern

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\netmem"; Filename: "{app}\netmem-gui.exe"; Comment: "Memory profiler for network workloads"
Name: "{autodesktop}\netmem"; Filename: "{app}\netmem-gui.exe"; Tasks: desktopicon

[Run]
Filename: "{app}\netmem-gui.exe"; Description: "{cm:LaunchProgram,netmem}"; Flags: nowait postinstall skipifsilent
